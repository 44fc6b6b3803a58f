//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// load is the closed-loop request generator: workers goroutines, each sending
// GET /v1/me through the replicas in rotation (round robin) for the accounts in
// turn, pausing think between requests. Every answer is recorded: 200s are counted
// (and checked to come from the account's own Spotify user), everything else is kept
// with its times, replica, account, status and reason for the analysis.
type load struct {
	e       *env
	client  *http.Client
	workers int
	think   time.Duration

	rr       atomic.Uint64
	total    atomic.Int64
	ok       atomic.Int64
	okByPair []atomic.Int64 // [replica*len(accounts)+account]

	users sync.Map // account index -> Spotify user id of its first 200

	mu       sync.Mutex
	failures []request

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// request is one non-200 outcome.
type request struct {
	start, end time.Time
	replica    int
	account    int
	status     int    // 0: no HTTP answer
	reason     string // the proxy's error reason, HTTP_<status> without one, or transport:<kind>
	detail     string
}

const clientTimeout = 15 * time.Second

func newLoad(e *env, workers int, think time.Duration) *load {
	return &load{
		e: e, workers: workers, think: think,
		client: &http.Client{
			Timeout: clientTimeout,
			Transport: &http.Transport{
				MaxIdleConnsPerHost: workers, MaxIdleConns: 4 * workers, IdleConnTimeout: 30 * time.Second,
				DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			},
		},
		okByPair: make([]atomic.Int64, len(e.replicas)*len(e.accounts)),
	}
}

func (l *load) run() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for w := 0; w < l.workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			acct := w % len(l.e.accounts)
			for ctx.Err() == nil {
				r := l.pick()
				if r == nil {
					sleepCtx(ctx, 10*time.Millisecond)
					continue
				}
				l.one(ctx, r, acct)
				acct = (acct + 1) % len(l.e.accounts)
				sleepCtx(ctx, l.think)
			}
		}()
	}
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// pick returns the next replica in rotation, nil when none is.
func (l *load) pick() *replica {
	n := len(l.e.replicas)
	start := int(l.rr.Add(1) % uint64(n))
	for i := 0; i < n; i++ {
		r := l.e.replicas[(start+i)%n]
		if l.e.inRotation[r.idx].Load() {
			return r
		}
	}
	return nil
}

func (l *load) one(ctx context.Context, r *replica, acct int) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.listen+"/v1/me", nil)
	if a := l.e.accounts[acct]; a != defaultAccount {
		req.Header.Set("X-Spotify-Account", a)
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	end := time.Now()
	if ctx.Err() != nil {
		return // the load was stopped: the request does not count
	}
	l.total.Add(1)
	rec := request{start: start, end: end, replica: r.idx, account: acct}
	switch {
	case err != nil:
		rec.reason, rec.detail = transportKind(err), err.Error()
	case resp.StatusCode == 200:
		var me struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &me)
		prev, _ := l.users.LoadOrStore(acct, me.ID)
		if me.ID == "" || prev.(string) != me.ID {
			rec.status, rec.reason = 200, "WRONG_USER"
			rec.detail = "answered for " + me.ID + ", the account is " + prev.(string)
			break
		}
		l.ok.Add(1)
		l.okByPair[r.idx*len(l.e.accounts)+acct].Add(1)
		return
	default:
		rec.status = resp.StatusCode
		var eb struct {
			Error struct {
				Reason  string `json:"reason"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &eb)
		rec.reason, rec.detail = eb.Error.Reason, eb.Error.Message
		if rec.reason == "" {
			rec.reason = "HTTP_" + http.StatusText(resp.StatusCode)
		}
	}
	l.mu.Lock()
	l.failures = append(l.failures, rec)
	l.mu.Unlock()
}

func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport:refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "connection reset"), strings.Contains(err.Error(), "EOF"):
		return "transport:reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "transport:timeout"
	default:
		return "transport:other"
	}
}

// okEverywhereSince reports whether every (replica in rotation, account) pair has
// answered 200 more often than in the snapshot given.
func (l *load) okEverywhereSince(snap []int64) bool {
	for i := range l.okByPair {
		if !l.e.inRotation[i/len(l.e.accounts)].Load() {
			continue
		}
		if l.okByPair[i].Load() <= snap[i] {
			return false
		}
	}
	return true
}

func (l *load) okSnapshot() []int64 {
	out := make([]int64, len(l.okByPair))
	for i := range l.okByPair {
		out[i] = l.okByPair[i].Load()
	}
	return out
}

func (l *load) failureList() []request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]request(nil), l.failures...)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

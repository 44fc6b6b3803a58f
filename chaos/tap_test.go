//go:build linux

package chaos

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tap sits between the replicas and the emulator's token endpoint and records every
// token call: which replica made it (replica i uses SPOTIFY_ACCOUNTS_URL
// http://tap/r{i}), the refresh token it sent, and what came back. It forwards
// with the caller's context, so a caller that hangs up (killed, timed out) cancels
// the emulator's answer too (the emulator then answers nothing and rotates nothing).
// Only /r{i}/api/token is served: the Web API goes to the emulator directly.
type tap struct {
	upstream string
	client   *http.Client

	mu       sync.Mutex
	calls    []*tokenCall
	owner    map[string]string // refresh token -> account
	head     map[string]string // account -> newest refresh token issued
	inflight map[*tokenCall]struct{}
}

// tokenCall is one POST /api/token seen by the tap.
type tokenCall struct {
	replica   int
	account   string // "" when the refresh token is unknown
	grant     string
	start     time.Time
	end       time.Time // zero while in flight
	status    int       // 0: no answer (the caller or the emulator went away)
	oauthErr  string    // "error" of an error answer
	access    string
	rotatedTo string
	expiresIn time.Duration
}

func (c *tokenCall) ok() bool { return c.status == 200 && c.access != "" }

func newTap(upstream string) *tap {
	return &tap{
		upstream: upstream,
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}},
		owner:    map[string]string{},
		head:     map[string]string{},
		inflight: map[*tokenCall]struct{}{},
	}
}

// register names the account of an initial refresh token.
func (tp *tap) register(account, refreshToken string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.owner[refreshToken] = account
	tp.head[account] = refreshToken
}

func (tp *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/r")
	idxText, path, _ := strings.Cut(rest, "/")
	idx, err := strconv.Atoi(idxText)
	if !ok || err != nil || path != "api/token" || r.Method != http.MethodPost {
		http.Error(w, "chaos tap: only POST /r{i}/api/token", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	c := &tokenCall{replica: idx, grant: form.Get("grant_type"), start: time.Now()}
	sent := form.Get("refresh_token")
	tp.mu.Lock()
	c.account = tp.owner[sent]
	tp.calls = append(tp.calls, c)
	tp.inflight[c] = struct{}{}
	tp.mu.Unlock()

	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, tp.upstream+"/api/token", bytes.NewReader(body))
	for _, h := range []string{"Authorization", "Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := tp.client.Do(req)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	end := time.Now()
	tp.mu.Lock()
	c.end = end
	delete(tp.inflight, c)
	if err == nil {
		c.status = resp.StatusCode
		var tr struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			ExpiresIn    int64  `json:"expires_in"`
			Error        string `json:"error"`
		}
		_ = json.Unmarshal(answer, &tr)
		c.oauthErr = tr.Error
		if c.status == 200 {
			c.access, c.rotatedTo, c.expiresIn = tr.AccessToken, tr.RefreshToken, time.Duration(tr.ExpiresIn)*time.Second
			if tr.RefreshToken != "" && c.account != "" {
				tp.owner[tr.RefreshToken] = c.account
				tp.head[c.account] = tr.RefreshToken
			}
		}
	}
	tp.mu.Unlock()
	if err != nil {
		http.Error(w, "chaos tap: "+err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Content-Type", "Retry-After", "Cache-Control"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// snapshot returns copies of every call so far, ordered by start.
func (tp *tap) snapshot() []tokenCall {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([]tokenCall, len(tp.calls))
	for i, c := range tp.calls {
		out[i] = *c
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// inFlight returns a copy of a refresh call in flight that started at least age
// ago, if any.
func (tp *tap) inFlight(age time.Duration) (tokenCall, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for c := range tp.inflight {
		if c.grant == "refresh_token" && c.account != "" && time.Since(c.start) >= age {
			return *c, true
		}
	}
	return tokenCall{}, false
}

func (tp *tap) headOf(account string) string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.head[account]
}

// okSince reports whether every account has a successful refresh that started after t.
func (tp *tap) okSince(t time.Time, accounts []string) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range tp.calls {
		if c.start.After(t) && c.ok() {
			seen[c.account] = true
		}
	}
	for _, a := range accounts {
		if !seen[a] {
			return false
		}
	}
	return true
}

// quietFor reports whether no token call is in flight and none started or ended
// within d.
func (tp *tap) quietFor(d time.Duration) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.inflight) > 0 {
		return false
	}
	for _, c := range tp.calls {
		if time.Since(c.start) < d || time.Since(c.end) < d {
			return false
		}
	}
	return true
}

// anyOKSince reports whether some refresh answered successfully after t.
func (tp *tap) anyOKSince(t time.Time) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, c := range tp.calls {
		if c.ok() && c.end.After(t) {
			return true
		}
	}
	return false
}

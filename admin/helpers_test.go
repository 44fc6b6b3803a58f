package admin

import (
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/syncbuf"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

const testAdminToken = "admin-secret-0123456789"

// clock is a manual clock. It starts near the real time because golang.org/x/oauth2
// computes token expiries from the real clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Now().UTC().Truncate(time.Second)) }

// fakeRefresher is a token endpoint: refresh tokens in revoked get invalid_grant,
// failing makes every call a temporary error. Refresh tokens do not rotate.
type fakeRefresher struct {
	clock *clock

	mu      sync.Mutex
	serial  int
	calls   int
	revoked map[string]bool
	failing bool
}

func (f *fakeRefresher) Refresh(_ context.Context, rt string) (tokenstore.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.failing:
		return tokenstore.Token{}, errors.New("status 503")
	case f.revoked[rt]:
		return tokenstore.Token{}, fmt.Errorf("%w: Refresh token revoked", tokenstore.ErrInvalidGrant)
	}
	f.serial++
	return tokenstore.Token{AccessToken: fmt.Sprintf("AT-refreshed-%d", f.serial), Expiry: f.clock.Now().Add(time.Hour), Scope: "user-read-private"}, nil
}

func (f *fakeRefresher) ClientCredentials(context.Context) (tokenstore.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serial++
	return tokenstore.Token{AccessToken: fmt.Sprintf("CC-%d", f.serial), Expiry: f.clock.Now().Add(time.Hour)}, nil
}

func (f *fakeRefresher) set(fn func(f *fakeRefresher)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// fanout is an in-process Notifier shared by the Sources of one test: Publish calls
// every subscriber before it returns, so a test needs no waiting after a write.
type fanout struct {
	mu         sync.Mutex
	subs       map[int]func(string)
	next       int
	subscribed chan struct{} // one value per Subscribe call
}

func newFanout() *fanout {
	return &fanout{subs: map[int]func(string){}, subscribed: make(chan struct{}, 16)}
}

func (n *fanout) Publish(_ context.Context, account string) error {
	n.mu.Lock()
	fns := make([]func(string), 0, len(n.subs))
	for _, fn := range n.subs {
		fns = append(fns, fn)
	}
	n.mu.Unlock()
	for _, fn := range fns {
		fn(account)
	}
	return nil
}

func (n *fanout) Subscribe(ctx context.Context, subscribed func(), fn func(string)) error {
	n.mu.Lock()
	id := n.next
	n.next++
	n.subs[id] = fn
	n.mu.Unlock()
	if subscribed != nil {
		subscribed()
	}
	n.subscribed <- struct{}{}
	<-ctx.Done()
	n.mu.Lock()
	delete(n.subs, id)
	n.mu.Unlock()
	return ctx.Err()
}

// env is one replica: a Source over a FileStore, and its admin Server.
type env struct {
	clock *clock
	ref   *fakeRefresher
	store *tokenstore.FileStore
	src   *tokenstore.Source
	reg   *prometheus.Registry
	m     *metrics.Metrics
	logs  *syncbuf.Buffer
	srv   *Server
	h     http.Handler
}

type envOption struct {
	admin    func(*Config)
	source   func(*tokenstore.Config)
	store    *tokenstore.FileStore // shared store (second replica)
	clock    *clock
	notifier tokenstore.Notifier
}

func newEnv(t testing.TB, opt envOption) *env {
	t.Helper()
	e := &env{clock: opt.clock, store: opt.store, reg: prometheus.NewRegistry(), logs: &syncbuf.Buffer{}}
	if e.clock == nil {
		e.clock = newClock()
	}
	if e.store == nil {
		st, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e.store = st
	}
	e.ref = &fakeRefresher{clock: e.clock, revoked: map[string]bool{}}
	e.m = metrics.New(e.reg)
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	scfg := tokenstore.Config{
		Store: e.store, Refresher: e.ref, Notifier: opt.notifier, Metrics: e.m, Logger: log, Now: e.clock.Now,
		AppAccount: "app", ScanInterval: -1, RetryBase: time.Second, RetryMax: time.Second,
	}
	if opt.source != nil {
		opt.source(&scfg)
	}
	e.src = tokenstore.NewSource(scfg)
	e.src.Run()
	t.Cleanup(e.src.Close)
	acfg := Config{Tokens: e.src, Gatherer: e.reg, AdminToken: testAdminToken, Metrics: e.m, Logger: log, Now: e.clock.Now}
	if opt.admin != nil {
		opt.admin(&acfg)
	}
	e.srv = New(acfg)
	e.h = e.srv.Handler()
	return e
}

// req describes one request to a handler.
type req struct {
	method, path, body string
	auth               string // Authorization header; "-" for none
}

func (e *env) do(t testing.TB, r req) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, e.h, r)
}

func serve(t testing.TB, h http.Handler, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	switch r.auth {
	case "":
		hr.Header.Set("Authorization", "Bearer "+testAdminToken)
	case "-":
	default:
		hr.Header.Set("Authorization", r.auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	return w
}

// apiError decodes a Spotify-shaped error body.
type apiError struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"error"`
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if e.Error.Status != w.Code {
		t.Fatalf("error body status %d, answer %d", e.Error.Status, w.Code)
	}
	return e
}

// wantError checks status and reason of an error answer and returns its message.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, reason string) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	e := errorBody(t, w)
	if e.Error.Reason != reason {
		t.Fatalf("reason %q, want %q (message %q)", e.Error.Reason, reason, e.Error.Message)
	}
	return e.Error.Message
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body.String())
	}
}

func refreshes(m *metrics.Metrics, trigger, result string) float64 {
	return testutil.ToFloat64(m.TokenRefreshes.WithLabelValues(trigger, result))
}

func (e *env) record(t testing.TB, account string) (tokenstore.Record, bool) {
	t.Helper()
	rec, err := e.store.Get(context.Background(), account)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return rec, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec, true
}

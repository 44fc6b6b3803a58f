package apierror_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/apierror"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// secret stands for what a token source's error text may carry (a token, an
// account, the token endpoint's words); it must never reach an answer.
const secret = "AQDsecret-refresh-token"

func wrap(err error) error { return fmt.Errorf("refresh with %s: %w", secret, err) }

type errorBody struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"error"`
}

// send writes a and returns the recorded answer, checking its shape.
func send(t *testing.T, a apierror.Answer) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	a.Write(w)
	if strings.Contains(w.Body.String(), secret) || strings.Contains(fmt.Sprint(w.Header()), secret) {
		t.Errorf("the answer carries the error's text: %q", w.Body.String())
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body.String(), err)
	}
	if w.Code != a.Status || b.Error.Status != a.Status || b.Error.Reason != a.Reason || b.Error.Message != a.Message {
		t.Errorf("sent %d %+v, want %+v", w.Code, b.Error, a)
	}
	return w
}

func TestForToken(t *testing.T) {
	const (
		reauth      = "the account's refresh token was rejected; the user must authorise the app again"
		noToken     = "no token is stored for this account"
		unavailable = "no valid access token can be obtained right now"
	)
	tests := []struct {
		name    string
		err     error
		subject apierror.Subject
		want    apierror.Answer
		known   bool
	}{
		{"reauth required", tokenstore.ErrReauthRequired, apierror.Forwarded,
			apierror.Answer{Status: 401, Reason: "PROXY_REAUTH_REQUIRED", Message: reauth}, true},
		{"reauth required, token asked for", tokenstore.ErrReauthRequired, apierror.TokenResource,
			apierror.Answer{Status: 401, Reason: "PROXY_REAUTH_REQUIRED", Message: reauth}, true},
		{"no token, forwarded call", tokenstore.ErrNoToken, apierror.Forwarded,
			apierror.Answer{Status: 401, Reason: "PROXY_NO_TOKEN", Message: noToken}, true},
		{"no token, token asked for", tokenstore.ErrNoToken, apierror.TokenResource,
			apierror.Answer{Status: 404, Reason: "PROXY_NO_TOKEN", Message: noToken}, true},
		{"unavailable keeps its Retry-After", &tokenstore.UnavailableError{RetryAfter: 42 * time.Second, Err: errors.New(secret)}, apierror.Forwarded,
			apierror.Answer{Status: 503, Reason: "PROXY_TOKEN_UNAVAILABLE", Message: unavailable, RetryAfter: 42 * time.Second}, true},
		{"unavailable, token asked for", &tokenstore.UnavailableError{RetryAfter: time.Second}, apierror.TokenResource,
			apierror.Answer{Status: 503, Reason: "PROXY_TOKEN_UNAVAILABLE", Message: unavailable, RetryAfter: time.Second}, true},
		{"store failure", errors.New("redis: connection refused " + secret), apierror.Forwarded,
			apierror.Answer{Status: 503, Reason: "PROXY_TOKEN_UNAVAILABLE", Message: unavailable, RetryAfter: 5 * time.Second}, false},
		{"corrupt record", tokenstore.ErrCorrupt, apierror.TokenResource,
			apierror.Answer{Status: 503, Reason: "PROXY_TOKEN_UNAVAILABLE", Message: unavailable, RetryAfter: 5 * time.Second}, false},
		{"lock timeout", tokenstore.ErrLockTimeout, apierror.Forwarded,
			apierror.Answer{Status: 503, Reason: "PROXY_TOKEN_UNAVAILABLE", Message: unavailable, RetryAfter: 5 * time.Second}, false},
		// The proxy passes Spotify's own 401 through before it would ask.
		{"refresh too soon", tokenstore.ErrRefreshTooSoon, apierror.Forwarded,
			apierror.Answer{Status: 503, Reason: "PROXY_TOKEN_UNAVAILABLE", Message: unavailable, RetryAfter: 5 * time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, err := range []error{tt.err, wrap(tt.err)} {
				got, known := apierror.ForToken(err, tt.subject)
				if got != tt.want || known != tt.known {
					t.Fatalf("ForToken(%v) = %+v, %v; want %+v, %v", err, got, known, tt.want, tt.known)
				}
				send(t, got)
			}
		})
	}
}

func TestForStore(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		want  apierror.Answer
		known bool
	}{
		{"stale delivery", tokenstore.ErrStaleDelivery,
			apierror.Answer{Status: 409, Reason: "ADMIN_STALE_DELIVERY", Message: "the stored refresh token was obtained after this one (obtained_at); nothing was changed"}, true},
		{"bad account", tokenstore.ErrBadAccount,
			apierror.Answer{Status: 400, Reason: "ADMIN_BAD_REQUEST", Message: "invalid account id"}, true},
		{"version conflict", tokenstore.ErrVersionConflict,
			apierror.Answer{Status: 503, Reason: "ADMIN_CONFLICT", Message: "the account changed during the delivery; try again", RetryAfter: time.Second}, true},
		{"store failure", errors.New("redis: i/o timeout " + secret),
			apierror.Answer{Status: 503, Reason: "ADMIN_STORE_UNAVAILABLE", Message: "the token store failed; try again", RetryAfter: 5 * time.Second}, false},
		{"lock timeout", tokenstore.ErrLockTimeout,
			apierror.Answer{Status: 503, Reason: "ADMIN_STORE_UNAVAILABLE", Message: "the token store failed; try again", RetryAfter: 5 * time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, err := range []error{tt.err, wrap(tt.err)} {
				got, known := apierror.ForStore(err)
				if got != tt.want || known != tt.known {
					t.Fatalf("ForStore(%v) = %+v, %v; want %+v, %v", err, got, known, tt.want, tt.known)
				}
				send(t, got)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		retryAfter time.Duration
		header     string
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{42 * time.Second, "42"},
	}
	for _, tt := range tests {
		w := send(t, apierror.Answer{Status: http.StatusServiceUnavailable, Reason: "R", Message: `say "hi"` + "\n", RetryAfter: tt.retryAfter})
		if got := w.Header().Get("Retry-After"); got != tt.header {
			t.Errorf("Retry-After for %v = %q, want %q", tt.retryAfter, got, tt.header)
		}
		if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json; charset=utf-8" || cc != "no-store" {
			t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
		}
	}
	w := httptest.NewRecorder()
	apierror.Write(w, 418, "X_TEAPOT", "short and stout", 0)
	if got, want := w.Body.String(), `{"error":{"status":418,"message":"short and stout","reason":"X_TEAPOT"}}`+"\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}

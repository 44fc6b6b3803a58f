package spotifyauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func TestRefreshRotationAndOmission(t *testing.T) {
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "id", ClientSecret: "secret"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c := New(Config{ClientID: "id", ClientSecret: "secret", AccountsURL: srv.URL})
	ctx := context.Background()
	rt := emu.IssueRefreshToken("user-read-private")
	tok, err := c.Refresh(ctx, rt)
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == rt || tok.Scope != "user-read-private" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("rotate: %+v %v", tok, err)
	}
	// The old token is dead now: invalid_grant, typed.
	_, err = c.Refresh(ctx, rt)
	var e *Error
	if !errors.Is(err, tokenstore.ErrInvalidGrant) || !errors.As(err, &e) || e.Status != 400 || e.Code != "invalid_grant" {
		t.Fatalf("revoked token: %v", err)
	}
	if strings.Contains(err.Error(), rt) || strings.Contains(err.Error(), "secret") {
		t.Fatal("error text leaks a secret")
	}
	emu.SetRefreshPolicy(spotifyemu.OmitRefreshToken)
	tok2, err := c.Refresh(ctx, tok.RefreshToken)
	if err != nil || tok2.RefreshToken != tok.RefreshToken {
		t.Fatalf("omitted refresh_token must come back as the one sent: %+v %v", tok2, err)
	}
	cc, err := c.ClientCredentials(ctx)
	if err != nil || cc.AccessToken == "" || cc.RefreshToken != "" {
		t.Fatalf("client credentials: %+v %v", cc, err)
	}
	if st := emu.Stats(); st.BodyAuthCalls != 0 {
		t.Fatalf("%d calls sent credentials in the body", st.BodyAuthCalls)
	}
}

func TestTemporaryErrorsAreNotInvalidGrant(t *testing.T) {
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "id", ClientSecret: "secret"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c := New(Config{ClientID: "id", ClientSecret: "secret", AccountsURL: srv.URL, Timeout: 200 * time.Millisecond})
	rt := emu.IssueRefreshToken("")
	emu.FailTokenEndpoint(503, 1)
	if _, err := c.Refresh(context.Background(), rt); err == nil || errors.Is(err, tokenstore.ErrInvalidGrant) {
		t.Fatalf("503: %v", err)
	}
	emu.SetTokenLatency(time.Second)
	_, err := c.Refresh(context.Background(), rt)
	if err == nil || errors.Is(err, tokenstore.ErrInvalidGrant) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timeout: %v", err)
	}
}

// A failed call tells the token source what the endpoint answered (for its span):
// the status and the OAuth error code, or no status when no answer came.
func TestErrorsTellTheEndpointsAnswer(t *testing.T) {
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "id", ClientSecret: "secret"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c := New(Config{ClientID: "id", ClientSecret: "secret", AccountsURL: srv.URL, Timeout: 200 * time.Millisecond})
	answer := func(err error) string {
		var ee tokenstore.EndpointError
		if !errors.As(err, &ee) {
			return fmt.Sprintf("%v is no EndpointError", err)
		}
		status, code := ee.EndpointAnswer()
		return fmt.Sprint(status, " ", code)
	}
	emu.FailTokenEndpoint(503, 1)
	_, err := c.Refresh(context.Background(), emu.IssueRefreshToken(""))
	if got := answer(err); got != "503 server_error" {
		t.Errorf("503: %q", got)
	}
	_, err = c.Refresh(context.Background(), "not-a-live-refresh-token")
	if got := answer(err); got != "400 invalid_grant" {
		t.Errorf("dead refresh token: %q", got)
	}
	srv.Close()
	_, err = c.Refresh(context.Background(), "rt")
	if got := answer(err); got != "0 " {
		t.Errorf("no answer: %q", got)
	}
}

// FuzzTokenResponse: whatever the token endpoint answers, Refresh never panics, never
// calls twice, and only an invalid_grant error code is reported as invalid_grant.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, `{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r"}`)
	f.Add(200, `{"access_token":"a","token_type":"Bearer","expires_in":"3600"}`)
	f.Add(400, `{"error":"invalid_grant","error_description":"Refresh token revoked"}`)
	f.Add(400, `{"error":"invalid_client"}`)
	f.Add(500, `<html>oops</html>`)
	f.Add(200, ``)
	f.Add(200, `{"access_token":""}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 {
			return
		}
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		defer srv.Close()
		c := New(Config{ClientID: "id", ClientSecret: "secret", AccountsURL: srv.URL})
		tok, err := c.Refresh(context.Background(), "rt")
		if calls.Load() != 1 {
			t.Fatalf("%d token calls, want 1", calls.Load())
		}
		if err == nil && tok.AccessToken == "" {
			t.Fatal("success without an access token")
		}
		if errors.Is(err, tokenstore.ErrInvalidGrant) && !strings.Contains(body, "invalid_grant") {
			t.Fatalf("invalid_grant reported for %d %q", status, body)
		}
	})
}

// TestRedirectsAreNotFollowed: a token endpoint that redirects (a misconfigured
// SPOTIFY_ACCOUNTS_URL) must not get the refresh token, the code or the Basic
// credentials re-sent to the target; the error names the setting, the status and
// the target host, and no secret.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer","expires_in":3600}`))
	}))
	defer target.Close()
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/api/token?x=1", status)
		}))
		c := New(Config{ClientID: "the-id", ClientSecret: "the-secret", AccountsURL: redirector.URL})
		calls := map[string]func() error{
			"refresh": func() error { _, err := c.Refresh(context.Background(), "the-refresh-token"); return err },
			"client credentials": func() error {
				_, err := c.ClientCredentials(context.Background())
				return err
			},
			"code exchange": func() error {
				_, err := c.Exchange(context.Background(), "the-code", "the-verifier-0123456789012345678901234567890123")
				return err
			},
		}
		for name, call := range calls {
			err := call()
			if err == nil {
				t.Fatalf("%d, %s: no error", status, name)
			}
			var re *RedirectError
			if !errors.As(err, &re) || re.Status != status || errors.Is(err, tokenstore.ErrInvalidGrant) {
				t.Errorf("%d, %s: error %v is not a RedirectError with the status", status, name, err)
			}
			msg := err.Error()
			targetHost := strings.TrimPrefix(target.URL, "http://")
			for _, want := range []string{"SPOTIFY_ACCOUNTS_URL", targetHost, strconv.Itoa(status)} {
				if !strings.Contains(msg, want) {
					t.Errorf("%d, %s: error %q does not name %q", status, name, msg, want)
				}
			}
			for _, secret := range []string{"the-refresh-token", "the-secret", "the-code", "the-verifier", "stolen"} {
				if strings.Contains(msg, secret) {
					t.Errorf("%d, %s: error %q leaks %q", status, name, msg, secret)
				}
			}
		}
		redirector.Close()
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the redirect target was hit %d times", n)
	}
}

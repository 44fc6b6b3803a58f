package spotifyauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

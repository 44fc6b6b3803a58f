package spotifyemu_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

func TestRefreshWithOAuth2RotatesAndRevokesOld(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.emu.IssueRefreshToken("user-read-private")

	tok, err := e.refresh(t, rt)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v", tok)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == rt {
		t.Fatalf("refresh token %q, want a new one", tok.RefreshToken)
	}
	if got := tok.Extra("scope"); got != "user-read-private" {
		t.Errorf("scope %v", got)
	}
	if e.emu.RefreshTokenLive(rt) || !e.emu.RefreshTokenLive(tok.RefreshToken) {
		t.Error("after rotation the old token must be dead and the new one live")
	}
	if n := e.emu.LiveRefreshTokens(); n != 1 {
		t.Errorf("LiveRefreshTokens = %d, want 1", n)
	}
	if !e.emu.AccessTokenValid(tok.AccessToken) {
		t.Error("issued access token is not valid")
	}

	_, err = e.refresh(t, rt)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.ErrorDescription != "Refresh token revoked" {
		t.Fatalf("refresh with rotated-away token: %v", err)
	}
	st := e.emu.Stats()
	if st.RefreshCalls != 2 || st.InvalidGrants != 1 || st.BasicAuthCalls != 2 || st.TokenCalls != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestRefreshPolicies(t *testing.T) {
	for _, tc := range []struct {
		name        string
		policy      spotifyemu.RefreshPolicy
		wantNew     bool // answer carries a different refresh token
		wantKey     bool // answer has the refresh_token key
		wantOldLive bool
	}{
		{"rotate", spotifyemu.RotateRevokeOld, true, true, false},
		{"never", spotifyemu.NeverRotate, false, true, true},
		{"omit", spotifyemu.OmitRefreshToken, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *spotifyemu.Options) { o.RefreshPolicy = tc.policy })
			rt := e.emu.IssueRefreshToken("s")
			a := e.postForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true)
			if a.status != http.StatusOK {
				t.Fatalf("status %d %v", a.status, a.body)
			}
			got, hasKey := a.body["refresh_token"]
			if hasKey != tc.wantKey {
				t.Fatalf("refresh_token key present = %v, want %v (%v)", hasKey, tc.wantKey, a.body)
			}
			if hasKey && (got != rt) != tc.wantNew {
				t.Errorf("refresh_token %v, old %s, want new = %v", got, rt, tc.wantNew)
			}
			if e.emu.RefreshTokenLive(rt) != tc.wantOldLive {
				t.Errorf("old token live = %v, want %v", !tc.wantOldLive, tc.wantOldLive)
			}
			if n := e.emu.LiveRefreshTokens(); n != 1 {
				t.Errorf("LiveRefreshTokens = %d, want 1", n)
			}
			for _, k := range []string{"access_token", "token_type", "scope", "expires_in"} {
				if _, ok := a.body[k]; !ok {
					t.Errorf("answer lacks %q: %v", k, a.body)
				}
			}
		})
	}
}

func TestSetRefreshPolicyAtRunTime(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.emu.IssueRefreshToken("s")
	e.emu.SetRefreshPolicy(spotifyemu.OmitRefreshToken)
	tok, err := e.refresh(t, rt)
	if err != nil {
		t.Fatal(err)
	}
	// x/oauth2 keeps the refresh token it sent when the answer has none.
	if tok.RefreshToken != rt {
		t.Errorf("refresh token %q, want the old one kept", tok.RefreshToken)
	}
	if !e.emu.RefreshTokenLive(rt) {
		t.Error("omit policy must leave the old token live")
	}
}

func TestConcurrentRefreshWithRotationHasOneWinner(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.emu.IssueRefreshToken("s")
	const workers = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		successes int
		revoked   int
	)
	for range workers {
		wg.Go(func() {
			_, err := e.refresh(t, rt)
			var re *oauth2.RetrieveError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				successes++
			case errors.As(err, &re) && re.ErrorDescription == "Refresh token revoked":
				revoked++
			default:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if successes != 1 || revoked != workers-1 {
		t.Errorf("successes %d revoked %d, want 1 and %d", successes, revoked, workers-1)
	}
}

func TestRefreshErrors(t *testing.T) {
	e := newEnv(t, nil)
	wantTokenError(t, e.postForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, true),
		400, "invalid_grant", "Invalid refresh token")
	wantTokenError(t, e.postForm(t, url.Values{"grant_type": {"refresh_token"}}, true),
		400, "invalid_request", "refresh_token must be supplied")
	// A confidential client's refresh token cannot be used without its secret.
	rt := e.emu.IssueRefreshToken("s")
	wantTokenError(t, e.postForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {testClientID}}, false),
		401, "invalid_client", "Invalid client")
}

func TestRefreshTokenExpiresSixMonthsAfterAuthorisation(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.emu.IssueRefreshToken("s")
	e.clock.Add(spotifyemu.DefaultRefreshTokenLifetime - time.Hour)
	tok, err := e.refresh(t, rt) // rotates; the new token inherits the authorisation time
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	if e.emu.RefreshTokenLive(tok.RefreshToken) {
		t.Error("rotated token outlived the authorisation")
	}
	if n := e.emu.LiveRefreshTokens(); n != 0 {
		t.Errorf("LiveRefreshTokens = %d, want 0", n)
	}
	wantTokenError(t, e.postForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, true),
		400, "invalid_grant", "Invalid refresh token")
}

func TestRefreshTokenLifetimeOption(t *testing.T) {
	e := newEnv(t, func(o *spotifyemu.Options) { o.RefreshTokenLifetime = time.Minute })
	rt := e.emu.IssueRefreshToken("s")
	e.clock.Add(59 * time.Second)
	if !e.emu.RefreshTokenLive(rt) {
		t.Fatal("token dead before its lifetime")
	}
	e.clock.Add(time.Second)
	if e.emu.RefreshTokenLive(rt) {
		t.Fatal("token live after its lifetime")
	}
}

func TestAddRefreshToken(t *testing.T) {
	e := newEnv(t, func(o *spotifyemu.Options) { o.RefreshPolicy = spotifyemu.NeverRotate })
	e.emu.AddRefreshToken("seeded-token", "user-read-private")
	e.emu.AddRefreshToken("", "ignored")
	if !e.emu.RefreshTokenLive("seeded-token") || e.emu.LiveRefreshTokens() != 1 {
		t.Fatal("seeded token not live")
	}
	e.emu.AddRefreshToken("seeded-token", "user-read-private") // again: replaces, not adds
	if n := e.emu.LiveRefreshTokens(); n != 1 {
		t.Errorf("LiveRefreshTokens = %d, want 1", n)
	}
	tok, err := e.refresh(t, "seeded-token")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "seeded-token" {
		t.Errorf("refresh token %q", tok.RefreshToken)
	}
}

func TestClientCredentialsWithOAuth2(t *testing.T) {
	e := newEnv(t, nil)
	cc := clientcredentials.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		TokenURL:     e.srv.URL + "/api/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" {
		t.Errorf("client credentials answered a refresh token")
	}
	a := e.postForm(t, url.Values{"grant_type": {"client_credentials"}}, true)
	if a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	for _, k := range []string{"refresh_token", "scope"} {
		if _, ok := a.body[k]; ok {
			t.Errorf("client credentials answer has %q: %v", k, a.body)
		}
	}
	var echo spotifyemu.Echo
	e.get(t, "/v1/browse/new-releases", tok.AccessToken).json(t, &echo)
	if echo.AccountUser != "app" {
		t.Errorf("account_user %q, want app", echo.AccountUser)
	}
	wantAPIError(t, e.get(t, "/v1/me", tok.AccessToken), 403, "Insufficient client scope")
	wantAPIError(t, e.get(t, "/v1/me/playlists", tok.AccessToken), 403, "Insufficient client scope")
	if st := e.emu.Stats(); st.ClientCredentialCalls != 2 {
		t.Errorf("ClientCredentialCalls = %d", st.ClientCredentialCalls)
	}
}

func TestClientAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	cc := url.Values{"grant_type": {"client_credentials"}}
	basic := func(id, secret string) tokenAnswer {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/token", strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
		return e.doToken(t, req)
	}
	withBody := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name string
		do   func() tokenAnswer
		want int
	}{
		{"basic ok", func() tokenAnswer { return basic(testClientID, testClientSecret) }, 200},
		{"basic wrong secret", func() tokenAnswer { return basic(testClientID, "x") }, 401},
		{"basic wrong id", func() tokenAnswer { return basic("x", testClientSecret) }, 401},
		{"body ok", func() tokenAnswer {
			return e.postForm(t, withBody("client_id", testClientID, "client_secret", testClientSecret), false)
		}, 200},
		{"body wrong secret", func() tokenAnswer {
			return e.postForm(t, withBody("client_id", testClientID, "client_secret", "x"), false)
		}, 401},
		{"body id only", func() tokenAnswer { return e.postForm(t, withBody("client_id", testClientID), false) }, 401},
		{"none", func() tokenAnswer { return e.postForm(t, cc, false) }, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.do()
			if tc.want == 401 {
				wantTokenError(t, a, 401, "invalid_client", "Invalid client")
			} else if a.status != tc.want {
				t.Fatalf("status %d %v", a.status, a.body)
			}
		})
	}
	if st := e.emu.Stats(); st.BasicAuthCalls != 3 || st.BodyAuthCalls != 3 {
		t.Errorf("basic %d body %d, want 3 and 3", st.BasicAuthCalls, st.BodyAuthCalls)
	}
}

func TestTokenEndpointRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	post := func(contentType, body string) tokenAnswer {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.SetBasicAuth(testClientID, testClientSecret)
		return e.doToken(t, req)
	}
	wantTokenError(t, post("application/json", `{"grant_type":"client_credentials"}`),
		400, "unsupported_grant_type", "grant_type parameter is missing")
	wantTokenError(t, post("text/plain", "grant_type=client_credentials"),
		400, "unsupported_grant_type", "grant_type parameter is missing")
	wantTokenError(t, post("application/x-www-form-urlencoded", "scope=x"),
		400, "unsupported_grant_type", "grant_type parameter is missing")
	wantTokenError(t, post("application/x-www-form-urlencoded", "grant_type=password"),
		400, "unsupported_grant_type", "grant_type must be client_credentials, authorization_code or refresh_token")

	a := post("application/x-www-form-urlencoded; charset=utf-8", "grant_type=client_credentials")
	if a.status != 200 {
		t.Fatalf("status %d %v", a.status, a.body)
	}
	if ct, cc := a.header.Get("Content-Type"), a.header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("Content-Type %q Cache-Control %q", ct, cc)
	}

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/token", nil)
	if a := e.doToken(t, req); a.status != http.StatusMethodNotAllowed {
		t.Errorf("GET status %d, want 405", a.status)
	}
}

func TestExpiresIn(t *testing.T) {
	e := newEnv(t, func(o *spotifyemu.Options) { o.TokenLifetime = 1500 * time.Millisecond })
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		lifetime time.Duration
		want     float64
	}{
		{0, 3600}, // default
		{1500 * time.Millisecond, 2},
		{time.Nanosecond, 1},
		{10 * time.Second, 10},
	} {
		e.emu.SetTokenLifetime(tc.lifetime)
		if got := e.postForm(t, cc, true).body["expires_in"]; got != tc.want {
			t.Errorf("lifetime %v: expires_in %v, want %v", tc.lifetime, got, tc.want)
		}
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	e := newEnv(t, func(o *spotifyemu.Options) { o.TokenLifetime = 10 * time.Minute; o.Legacy401 = true })
	tok := e.accessToken(t)
	e.clock.Add(10*time.Minute - time.Nanosecond)
	if !e.emu.AccessTokenValid(tok) {
		t.Fatal("token expired early")
	}
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
		t.Fatalf("status %d", a.resp.StatusCode)
	}
	e.clock.Add(time.Nanosecond)
	if e.emu.AccessTokenValid(tok) {
		t.Fatal("token valid after its lifetime")
	}
	wantAPIError(t, e.get(t, "/v1/me", tok), 401, "The access token expired")
}

func TestAuthorizationCodeFlow(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauthConfig()
	ctx := context.Background()

	code := e.authorizeCode(t, nil)
	tok, err := cfg.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("scope") != "user-read-private user-read-email" {
		t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
	}
	var u spotifyemu.User
	e.get(t, "/v1/me", tok.AccessToken).json(t, &u)
	if u.ID != "user-1" {
		t.Errorf("user %q, want user-1", u.ID)
	}
	if !e.emu.RefreshTokenLive(tok.RefreshToken) {
		t.Error("exchanged refresh token not live")
	}

	// Codes are single-use.
	_, err = cfg.Exchange(ctx, code)
	wantRetrieveError(t, err, "invalid_grant", "Invalid authorization code")

	code = e.authorizeCode(t, nil)
	other := *cfg
	other.RedirectURL = "http://127.0.0.1:9999/other"
	_, err = other.Exchange(ctx, code)
	wantRetrieveError(t, err, "invalid_grant", "Invalid redirect URI")

	code = e.authorizeCode(t, nil)
	e.clock.Add(10 * time.Minute)
	_, err = cfg.Exchange(ctx, code)
	wantRetrieveError(t, err, "invalid_grant", "Authorization code expired")

	if st := e.emu.Stats(); st.CodeExchanges != 4 || st.InvalidGrants != 3 {
		t.Errorf("stats %+v", st)
	}
}

func wantRetrieveError(t *testing.T, err error, code, desc string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code || re.ErrorDescription != desc {
		t.Fatalf("error %v, want %s %q", err, code, desc)
	}
}

func TestPKCE(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	public := e.oauthConfig()
	public.ClientSecret = ""
	public.Endpoint.AuthStyle = oauth2.AuthStyleInParams

	challenged := func(verifier string) string {
		t.Helper()
		u, _ := url.Parse(public.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
		return e.authorizeCode(t, u.Query())
	}

	t.Run("success and public refresh", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		tok, err := public.Exchange(ctx, challenged(verifier), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		// A PKCE authorisation refreshes with client_id only.
		if _, err := public.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Fatalf("public refresh: %v", err)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		_, err := public.Exchange(ctx, challenged(oauth2.GenerateVerifier()), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant", "code_verifier was incorrect")
	})
	t.Run("missing verifier", func(t *testing.T) {
		_, err := public.Exchange(ctx, challenged(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_request", "code_verifier required")
	})
	t.Run("confidential client still needs the verifier", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		if _, err := e.oauthConfig().Exchange(ctx, challenged(verifier), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("public client without PKCE", func(t *testing.T) {
		_, err := public.Exchange(ctx, e.authorizeCode(t, nil))
		wantRetrieveError(t, err, "invalid_client", "Invalid client")
	})
}

func TestAuthorizeRedirectRules(t *testing.T) {
	e := newEnv(t, nil)
	base := func(kv ...string) url.Values {
		q := url.Values{
			"client_id":     {testClientID},
			"response_type": {"code"},
			"redirect_uri":  {"https://app.example/cb"},
			"state":         {"xyz"},
		}
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	for _, tc := range []struct {
		name      string
		q         url.Values
		wantPage  string            // 400 page containing this
		wantQuery map[string]string // else a 302 with these parameters ("*": any non-empty)
	}{
		{"https", base(), "", map[string]string{"code": "*", "state": "xyz"}},
		{"loopback v4", base("redirect_uri", "http://127.0.0.1:8080/cb"), "", map[string]string{"code": "*"}},
		{"loopback v6", base("redirect_uri", "http://[::1]:8080/cb"), "", map[string]string{"code": "*"}},
		{"localhost refused", base("redirect_uri", "http://localhost:8080/cb"), "INVALID_CLIENT: Insecure redirect URI", nil},
		{"plain http refused", base("redirect_uri", "http://app.example/cb"), "INVALID_CLIENT: Insecure redirect URI", nil},
		{"no redirect", base("redirect_uri", ""), "INVALID_CLIENT: Invalid redirect URI", nil},
		{"unknown client", base("client_id", "other"), "INVALID_CLIENT: Invalid client", nil},
		{"deny", base("emulator_deny", "1"), "", map[string]string{"error": "access_denied", "state": "xyz", "code": ""}},
		{"response type", base("response_type", "token"), "", map[string]string{"error": "unsupported_response_type"}},
		{"plain challenge", base("code_challenge_method", "plain", "code_challenge", "abc"), "", map[string]string{"error": "invalid_request"}},
		{"bad challenge", base("code_challenge_method", "S256", "code_challenge", "short"), "", map[string]string{"error": "invalid_request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.authorize(t, tc.q)
			if tc.wantPage != "" {
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 400 || !strings.Contains(string(b), tc.wantPage) {
					t.Fatalf("status %d body %q, want 400 with %q", resp.StatusCode, b, tc.wantPage)
				}
				return
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302", resp.StatusCode)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.q.Get("redirect_uri"); !strings.HasPrefix(loc.String(), want+"?") {
				t.Errorf("redirect %s is not to %s", loc, want)
			}
			for k, want := range tc.wantQuery {
				got := loc.Query().Get(k)
				if (want == "*" && got == "") || (want != "*" && got != want) {
					t.Errorf("%s = %q, want %q (redirect %s)", k, got, want, loc)
				}
			}
		})
	}
}

func TestInjectedTokenFailures(t *testing.T) {
	e := newEnv(t, nil)
	cc := url.Values{"grant_type": {"client_credentials"}}
	e.emu.FailTokenEndpoint(503, 2)
	for range 2 {
		wantTokenError(t, e.postForm(t, cc, true), 503, "server_error", "Service Unavailable")
	}
	if a := e.postForm(t, cc, true); a.status != 200 {
		t.Fatalf("after the injected failures: status %d", a.status)
	}

	e.emu.FailTokenEndpoint(400, -1)
	for range 3 {
		wantTokenError(t, e.postForm(t, cc, true), 400, "invalid_grant", "Invalid refresh token")
	}
	e.emu.ClearFailures()
	if a := e.postForm(t, cc, true); a.status != 200 {
		t.Fatalf("after ClearFailures: status %d", a.status)
	}
	if st := e.emu.Stats(); st.TokenFailures != 5 || st.InvalidGrants != 3 || st.TokenCalls != 7 || st.ClientCredentialCalls != 7 || st.BasicAuthCalls != 7 {
		t.Errorf("stats %+v", st)
	}
}

func TestTokenLatency(t *testing.T) {
	e := newEnv(t, nil)
	cc := url.Values{"grant_type": {"client_credentials"}}

	e.emu.SetTokenLatency(30 * time.Millisecond)
	start := time.Now()
	if a := e.postForm(t, cc, true); a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("answered after %v, want at least the latency", el)
	}

	// A caller that gives up ends the wait: the server's Close in Cleanup
	// would otherwise block for the whole hour.
	e.emu.SetTokenLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/api/token", strings.NewReader(cc.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testClientSecret)
	if resp, err := e.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request answered despite an hour of latency")
	}
	// Meanwhile the Web API is not held up.
	e.emu.SetTokenLatency(0)
	if a := e.get(t, "/v1/me", e.accessToken(t)); a.resp.StatusCode != 200 {
		t.Fatalf("status %d", a.resp.StatusCode)
	}
}

package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestNoSecretsInLogsOrErrors runs every flow with a JSON logger and checks that no
// token, code, verifier, state or admin secret shows up in the logs or in an error
// answer.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	l := newLoginEnv(t)
	secrets := []string{testAdminToken, testClientSecret, "wrong-admin-token-attempt"}
	var errorBodies []string
	record := func(status int, body string) {
		if status >= 300 {
			errorBodies = append(errorBodies, body)
		}
	}
	doAPI := func(r req) *answer {
		w := l.do(t, r)
		record(w.Code, w.Body.String())
		return &answer{status: w.Code, body: w.Body.String()}
	}

	// Admin API: deliveries good, stale and bad; reads; failed authentication.
	rt1, at1, rt2 := "RT-secret-delivered-1", "AT-secret-delivered-1", "RT-secret-delivered-2"
	secrets = append(secrets, rt1, at1, rt2)
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":%q,"access_token":%q,"expires_in":3600}`, rt1, at1)))
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":%q,"obtained_at":%q}`, rt2, l.clock.Now().Add(-time.Hour).Format(time.RFC3339))))
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":%q,"surprise":%q}`, rt2, rt2)))
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":%q,"access_token":%q}`, rt2, at1)))
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":%q,"obtained_at":%q}`, rt2, rt2)))
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":%q`, rt2)))
	doAPI(put("alice", fmt.Sprintf(`{"refresh_token":"%s\n"}`, rt2)))
	doAPI(req{method: "PUT", path: "/admin/v1/accounts/alice/token", body: `{"refresh_token":"x"}`, auth: "Bearer wrong-admin-token-attempt"})
	doAPI(req{method: "GET", path: "/admin/v1/accounts", auth: "Basic " + basic("ops", "wrong-admin-token-attempt")})
	if a := doAPI(get("alice")); a.status != http.StatusOK || !strings.Contains(a.body, at1) {
		t.Fatalf("GET token: %d %s", a.status, a.body)
	}
	doAPI(req{method: "GET", path: "/admin/v1/accounts"})
	doAPI(get("nobody"))

	// Login: success, replay, forged code, denial.
	loc, state, st := l.startLogin(t, "account=bob")
	cb := l.authorize(t, loc, "")
	code, _ := url.ParseQuery(strings.SplitN(cb, "?", 2)[1])
	secrets = append(secrets, state, st.Verifier, code.Get("code"), s256(st.Verifier))
	if a := l.get(t, cb, ""); a.status != http.StatusOK {
		t.Fatalf("login: %d", a.status)
	}
	bob, _ := l.record(t, "bob")
	secrets = append(secrets, bob.RefreshToken, bob.AccessToken)
	a := l.get(t, cb, "")
	record(a.status, a.body)

	_, state2, st2 := l.startLogin(t, "account=carol")
	secrets = append(secrets, state2, st2.Verifier, "forged-code-secret")
	a = l.get(t, l.admin+"/auth/callback?code=forged-code-secret&state="+state2, "")
	record(a.status, a.body)

	loc3, state3, st3 := l.startLogin(t, "account=dave")
	secrets = append(secrets, state3, st3.Verifier)
	a = l.get(t, l.authorize(t, loc3, "emulator_deny=1"), "")
	record(a.status, a.body)

	// Browser sessions: a failed sign-in, refused posts, a sign-out. Session ids and
	// CSRF tokens are secrets too.
	b := l.newBrowser(t)
	a = b.post(t, "/auth/signin", url.Values{"token": {"wrong-admin-token-attempt"}, "next": {"/auth/login"}}, nil)
	record(a.status, a.body)
	b.signIn(t)
	_, f := b.confirm(t, "account=erin")
	secrets = append(secrets, b.sessionCookie(t), f.Get(csrfField))
	cross := b.post(t, "/auth/login", f, map[string]string{"Sec-Fetch-Site": "cross-site"})
	record(cross.status, cross.body)
	forged := url.Values{"account": {"erin"}, csrfField: {"forged-csrf-token-attempt"}}
	secrets = append(secrets, "forged-csrf-token-attempt")
	a = b.post(t, "/auth/login", forged, nil)
	record(a.status, a.body)
	a = b.post(t, "/auth/signout", url.Values{csrfField: {"forged-csrf-token-attempt"}}, nil)
	record(a.status, a.body)
	loc5 := b.startLogin(t, "account=erin")
	secrets = append(secrets, loc5.Query().Get("state"))
	if a := b.post(t, "/auth/signout", url.Values{csrfField: {f.Get(csrfField)}}, nil); a.status != http.StatusOK {
		t.Fatalf("sign-out: %d", a.status)
	}
	a = b.post(t, "/auth/login", f, nil)
	record(a.status, a.body)

	logs := l.logs.String()
	if !strings.Contains(logs, `"account linked"`) || !strings.Contains(logs, `"account":"bob"`) {
		t.Fatalf("the logs miss the login: %s", logs)
	}
	if !strings.Contains(logs, `"admin signed in"`) || !strings.Contains(logs, `"admin signed out"`) {
		t.Fatalf("the logs miss the sessions: %s", logs)
	}
	if len(errorBodies) < 16 {
		t.Fatalf("only %d error answers collected", len(errorBodies))
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an empty secret in the list")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the secret %q", s)
		}
		for _, b := range errorBodies {
			if strings.Contains(b, s) {
				t.Errorf("an error answer contains the secret %q: %s", s, b)
			}
		}
	}
}

package spotifyemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

const maxTokenBody = 64 << 10

// clientKind is how a token call authenticated its client.
type clientKind int

const (
	clientInvalid      clientKind = iota
	clientConfidential            // id and secret
	clientPublic                  // client_id only (PKCE)
)

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeTokenError(w, &tokenError{status: http.StatusMethodNotAllowed, code: "invalid_request", description: "Method not allowed"})
		return
	}
	e.stats.tokenCalls.Add(1)
	// Read the whole body before waiting: net/http notices a caller that
	// hangs up (and cancels the context) only once the body is consumed.
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	formErr := r.ParseForm()
	_, _ = io.Copy(io.Discard, r.Body)
	e.countTokenCall(r)
	if d := time.Duration(e.tokenLatency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if status, ok := e.takeFailure(); ok {
		e.stats.tokenFailures.Add(1)
		e.writeInjectedFailure(w, status)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeTokenError(w, &tokenError{status: 400, code: "unsupported_grant_type", description: "grant_type parameter is missing"})
		return
	}
	if formErr != nil {
		writeTokenError(w, &tokenError{status: 400, code: "invalid_request", description: "Invalid request body"})
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	switch grant {
	case "refresh_token", "client_credentials", "authorization_code":
	case "":
		writeTokenError(w, &tokenError{status: 400, code: "unsupported_grant_type", description: "grant_type parameter is missing"})
		return
	default:
		writeTokenError(w, &tokenError{status: 400, code: "unsupported_grant_type", description: "grant_type must be client_credentials, authorization_code or refresh_token"})
		return
	}
	kind := e.authenticateClient(r, form)
	if kind == clientInvalid {
		writeTokenError(w, errInvalidClient)
		return
	}
	var (
		res  grantResult
		terr *tokenError
	)
	switch grant {
	case "refresh_token":
		res, terr = e.refreshGrant(form.Get("refresh_token"), kind == clientPublic)
	case "client_credentials":
		if kind == clientPublic {
			terr = errInvalidClient
		}
	case "authorization_code":
		res, terr = e.exchangeCode(form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier"), kind == clientPublic)
	}
	if terr != nil {
		if terr.code == "invalid_grant" {
			e.stats.invalidGrants.Add(1)
		}
		writeTokenError(w, terr)
		return
	}
	tok, lifetime := e.issueAccess(res.user, res.scope)
	if res.user == "" {
		writeTokenJSON(w, http.StatusOK, appTokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: expiresIn(lifetime)})
		return
	}
	writeTokenJSON(w, http.StatusOK, userTokenResponse{
		AccessToken:  tok,
		TokenType:    "Bearer",
		Scope:        res.scope,
		ExpiresIn:    expiresIn(lifetime),
		RefreshToken: res.refreshToken,
	})
}

// userTokenResponse is the 200 answer of the user grants; the refresh_token
// field is left out when the policy omits it.
type userTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// appTokenResponse is the 200 answer of client_credentials: no user scope
// and no refresh token.
type appTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// expiresIn is d in whole seconds, rounded up, at least 1.
func expiresIn(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// countTokenCall counts the call by what it asks for, whatever the answer
// (injected failures included).
func (e *Emulator) countTokenCall(r *http.Request) {
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		e.stats.refreshCalls.Add(1)
	case "client_credentials":
		e.stats.clientCredentialCalls.Add(1)
	case "authorization_code":
		e.stats.codeExchanges.Add(1)
	}
	if _, _, ok := r.BasicAuth(); ok {
		e.stats.basicAuthCalls.Add(1)
	} else if r.PostForm.Get("client_id") != "" {
		e.stats.bodyAuthCalls.Add(1)
	}
}

// authenticateClient checks HTTP Basic credentials or, when there is no
// Basic header, client_id/client_secret in the form.
func (e *Emulator) authenticateClient(r *http.Request, form url.Values) clientKind {
	if id, secret, ok := r.BasicAuth(); ok {
		if e.credentialsMatch(id, secret) {
			return clientConfidential
		}
		return clientInvalid
	}
	id := form.Get("client_id")
	if id == "" {
		return clientInvalid
	}
	if form.Has("client_secret") {
		if e.credentialsMatch(id, form.Get("client_secret")) {
			return clientConfidential
		}
		return clientInvalid
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(e.clientID)) == 1 {
		return clientPublic
	}
	return clientInvalid
}

// credentialsMatch compares in constant time. RFC 6749 form-encodes Basic
// credentials (golang.org/x/oauth2 does), most clients do not: both match.
func (e *Emulator) credentialsMatch(id, secret string) bool {
	match := func(id, secret string) bool {
		idOK := subtle.ConstantTimeCompare([]byte(id), []byte(e.clientID))
		secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(e.clientSecret))
		return idOK&secretOK == 1
	}
	if match(id, secret) {
		return true
	}
	uid, err1 := url.QueryUnescape(id)
	usecret, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && match(uid, usecret)
}

func (e *Emulator) writeInjectedFailure(w http.ResponseWriter, status int) {
	te := &tokenError{status: status}
	switch {
	case status >= 500:
		te.code, te.description = "server_error", http.StatusText(status)
	case status == http.StatusBadRequest:
		e.stats.invalidGrants.Add(1)
		te.code, te.description = "invalid_grant", "Invalid refresh token"
	case status == http.StatusUnauthorized:
		te.code, te.description = "invalid_client", "Invalid client"
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		te.code, te.description = "rate_limited", "API rate limit exceeded"
	default:
		te.code, te.description = "injected_failure", http.StatusText(status)
	}
	if te.status < 100 || te.status > 999 {
		te.status = http.StatusInternalServerError
	}
	writeTokenError(w, te)
}

func writeTokenError(w http.ResponseWriter, te *tokenError) {
	writeTokenJSON(w, te.status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{te.code, te.description})
}

func writeTokenJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are marshalled here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serveAuthorize auto-approves a valid authorisation request. Problems with
// the client or the redirect URI get an error page (there is nowhere safe to
// redirect to); other problems are redirected as OAuth errors.
func (e *Emulator) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeErrorPage(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	q := r.URL.Query()
	if id := q.Get("client_id"); id == "" || id != e.clientID {
		writeErrorPage(w, http.StatusBadRequest, "INVALID_CLIENT: Invalid client")
		return
	}
	redirectURI := q.Get("redirect_uri")
	target, msg := checkRedirectURI(redirectURI)
	if msg != "" {
		writeErrorPage(w, http.StatusBadRequest, msg)
		return
	}
	answer := func(params url.Values) {
		if q.Has("state") {
			params.Set("state", q.Get("state"))
		}
		t := *target
		tq := t.Query()
		for k, vs := range params {
			tq[k] = vs
		}
		t.RawQuery = tq.Encode()
		http.Redirect(w, r, t.String(), http.StatusFound)
	}
	oauthError := func(code, desc string) {
		answer(url.Values{"error": {code}, "error_description": {desc}})
	}
	if q.Get("response_type") != "code" {
		oauthError("unsupported_response_type", "response_type must be code")
		return
	}
	method, challenge := q.Get("code_challenge_method"), q.Get("code_challenge")
	if method != "" || challenge != "" {
		if method != "S256" {
			oauthError("invalid_request", "code_challenge_method must be S256")
			return
		}
		if b, err := base64.RawURLEncoding.DecodeString(challenge); err != nil || len(b) != sha256.Size {
			oauthError("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier")
			return
		}
	}
	if q.Get("emulator_deny") == "1" {
		answer(url.Values{"error": {"access_denied"}})
		return
	}
	code := e.newCode(redirectURI, q.Get("scope"), challenge)
	answer(url.Values{"code": {code}})
}

// checkRedirectURI accepts https URIs and http URIs on a loopback IP literal
// (http://127.0.0.1:PORT, http://[::1]:PORT). It returns the parsed URI or
// the message of the error page.
func checkRedirectURI(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	if s == "" || err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
		return nil, "INVALID_CLIENT: Invalid redirect URI"
	}
	switch u.Scheme {
	case "https":
		return u, ""
	case "http":
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.IsLoopback() {
			return u, ""
		}
		return nil, "INVALID_CLIENT: Insecure redirect URI"
	default:
		return nil, "INVALID_CLIENT: Invalid redirect URI"
	}
}

func writeErrorPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1>Oops! Something went wrong</h1><p>" +
		html.EscapeString(msg) + "</p></body></html>\n"))
}

// s256 is the PKCE S256 transform of a code verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

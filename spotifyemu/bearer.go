package spotifyemu

import (
	"net/http"
	"strings"
)

// Messages of 401 answers.
const (
	msg401          = "Missing/invalid/expired access token"
	msgNoToken      = "No token provided"
	msgInvalidToken = "Invalid access token"
	msgExpiredToken = "The access token expired"
)

// authenticate checks the bearer token and writes the error answer when it
// is missing, malformed, unknown, revoked or expired.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) (accessToken, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		e.write401(w, msgNoToken)
		return accessToken{}, false
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		writeAPIError(w, http.StatusBadRequest, "Only valid bearer authentication supported")
		return accessToken{}, false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		e.write401(w, msgNoToken)
		return accessToken{}, false
	}
	at, ok := e.lookupAccess(tok)
	switch {
	case !ok:
		e.write401(w, msgInvalidToken)
		return accessToken{}, false
	case !e.now().Before(at.expiresAt):
		e.write401(w, msgExpiredToken)
		return accessToken{}, false
	}
	return at, true
}

func (e *Emulator) write401(w http.ResponseWriter, legacyMsg string) {
	e.stats.unauthorized.Add(1)
	msg := msg401
	if e.legacy401.Load() {
		msg = legacyMsg
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="spotify", error="invalid_token", error_description="`+msg+`"`)
	writeAPIError(w, http.StatusUnauthorized, msg)
}

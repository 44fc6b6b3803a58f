package spotifyemu

import (
	"strconv"
	"time"
)

// Housekeeping: expired state is dropped at most once per sweepEvery of the
// emulator's clock, so long load and chaos runs do not grow without bound.
// Kept a while after expiry so that the answers stay precise ("The access
// token expired" rather than "Invalid access token", "Refresh token revoked"
// rather than "Invalid refresh token"); both are the same error class.
const (
	sweepEvery         = time.Minute
	expiredAccessGrace = time.Hour
	rotatedGrace       = 24 * time.Hour
	codeLifetime       = 10 * time.Minute
	codeGrace          = time.Hour
)

// app is the account_user of client-credentials tokens.
const app = "app"

type accessToken struct {
	user      string // "" for client-credentials tokens
	scope     string
	expiresAt time.Time
}

// chain is one user authorisation: the refresh tokens issued for it, one
// after the other, share its authorisation time and revocation.
type chain struct {
	user         string
	scope        string
	authorizedAt time.Time
	current      string // the live refresh token
	pkce         bool   // authorised by a public (PKCE) client: may refresh without a secret
	revoked      bool
}

type refreshEntry struct {
	chain     *chain
	rotatedAt time.Time // zero while this is the chain's current token
}

type authCode struct {
	redirectURI string
	scope       string
	challenge   string
	issuedAt    time.Time
}

// tokenError is an error answer of the token endpoint.
type tokenError struct {
	status      int
	code        string
	description string
}

func invalidGrant(desc string) *tokenError {
	return &tokenError{status: 400, code: "invalid_grant", description: desc}
}

var errInvalidClient = &tokenError{status: 401, code: "invalid_client", description: "Invalid client"}

// grantResult is what a successful grant answers.
type grantResult struct {
	user         string // "" for client credentials
	scope        string
	refreshToken string // "" omits the field
}

// IssueRefreshToken authorises a new user (ids "user-1", "user-2", …) for
// scope and returns its live refresh token.
func (e *Emulator) IssueRefreshToken(scope string) string {
	tok := randomToken("AQ")
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	e.newChainLocked(tok, scope, false)
	return tok
}

// AddRefreshToken registers token as the live refresh token of a new user
// authorisation for scope, authorised now. Registering a token again starts
// a new authorisation for it. An empty token is ignored.
func (e *Emulator) AddRefreshToken(token, scope string) {
	if token == "" {
		return
	}
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	if old := e.refresh[token]; old != nil && old.chain.current == token {
		delete(e.chains, old.chain.user)
	}
	e.newChainLocked(token, scope, false)
}

func (e *Emulator) newChainLocked(tok, scope string, pkce bool) *chain {
	now := e.now()
	e.sweepGrantsLocked(now)
	e.users++
	c := &chain{
		user:         "user-" + strconv.Itoa(e.users),
		scope:        scope,
		authorizedAt: now,
		current:      tok,
		pkce:         pkce,
	}
	e.chains[c.user] = c
	e.refresh[tok] = &refreshEntry{chain: c}
	return c
}

func (e *Emulator) chainExpired(c *chain, now time.Time) bool {
	return !now.Before(c.authorizedAt.Add(e.refreshLifetime))
}

// RefreshTokenLive reports whether token would be accepted by a refresh now.
func (e *Emulator) RefreshTokenLive(token string) bool {
	now := e.now()
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	ent := e.refresh[token]
	return ent != nil && ent.rotatedAt.IsZero() && !ent.chain.revoked && !e.chainExpired(ent.chain, now)
}

// LiveRefreshTokens returns the number of live refresh tokens: one per
// authorisation that is neither revoked nor expired.
func (e *Emulator) LiveRefreshTokens() int {
	now := e.now()
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	n := 0
	for _, c := range e.chains {
		if !c.revoked && !e.chainExpired(c, now) {
			n++
		}
	}
	return n
}

// RevokeRefreshTokens revokes every refresh token issued so far: refreshes
// with them answer invalid_grant "Refresh token revoked". Tokens issued
// afterwards are live.
func (e *Emulator) RevokeRefreshTokens() {
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	for _, c := range e.chains {
		c.revoked = true
	}
}

// RevokeAccessTokens makes every access token issued so far answer 401
// ("Invalid access token" in legacy mode). Tokens issued afterwards work.
func (e *Emulator) RevokeAccessTokens() {
	e.accessMu.Lock()
	defer e.accessMu.Unlock()
	e.access = make(map[string]accessToken)
}

// AccessTokenValid reports whether tok is an issued, unrevoked and unexpired
// access token.
func (e *Emulator) AccessTokenValid(tok string) bool {
	at, ok := e.lookupAccess(tok)
	return ok && e.now().Before(at.expiresAt)
}

func (e *Emulator) lookupAccess(tok string) (accessToken, bool) {
	e.accessMu.RLock()
	at, ok := e.access[tok]
	e.accessMu.RUnlock()
	return at, ok
}

// issueAccess creates an access token and returns it with its lifetime.
func (e *Emulator) issueAccess(user, scope string) (string, time.Duration) {
	lifetime := time.Duration(e.tokenLifetime.Load())
	tok := randomToken("BQ")
	now := e.now()
	e.accessMu.Lock()
	defer e.accessMu.Unlock()
	e.access[tok] = accessToken{user: user, scope: scope, expiresAt: now.Add(lifetime)}
	if now.Sub(e.accessSwept) >= sweepEvery {
		e.accessSwept = now
		for k, at := range e.access {
			if now.Sub(at.expiresAt) > expiredAccessGrace {
				delete(e.access, k)
			}
		}
	}
	return tok, lifetime
}

// sweepGrantsLocked drops expired codes, rotated-away refresh tokens past
// their grace, and expired authorisations. grantMu must be held.
func (e *Emulator) sweepGrantsLocked(now time.Time) {
	if now.Sub(e.grantSwept) < sweepEvery {
		return
	}
	e.grantSwept = now
	for k, c := range e.codes {
		if now.Sub(c.issuedAt) > codeLifetime+codeGrace {
			delete(e.codes, k)
		}
	}
	for k, ent := range e.refresh {
		if e.chainExpired(ent.chain, now) || (!ent.rotatedAt.IsZero() && now.Sub(ent.rotatedAt) > rotatedGrace) {
			delete(e.refresh, k)
		}
	}
	for k, c := range e.chains {
		if e.chainExpired(c, now) {
			delete(e.chains, k)
		}
	}
}

// refreshGrant performs grant_type=refresh_token for a client authenticated
// as confidential (with its secret) or public (client_id only).
func (e *Emulator) refreshGrant(tok string, public bool) (grantResult, *tokenError) {
	if tok == "" {
		return grantResult{}, &tokenError{status: 400, code: "invalid_request", description: "refresh_token must be supplied"}
	}
	now := e.now()
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	e.sweepGrantsLocked(now)
	ent := e.refresh[tok]
	if ent == nil {
		return grantResult{}, invalidGrant("Invalid refresh token")
	}
	c := ent.chain
	switch {
	case e.chainExpired(c, now):
		return grantResult{}, invalidGrant("Invalid refresh token")
	case !ent.rotatedAt.IsZero() || c.revoked:
		return grantResult{}, invalidGrant("Refresh token revoked")
	case public && !c.pkce:
		return grantResult{}, errInvalidClient
	}
	res := grantResult{user: c.user, scope: c.scope}
	switch RefreshPolicy(e.policy.Load()) {
	case NeverRotate:
		res.refreshToken = tok
	case OmitRefreshToken:
	default: // RotateRevokeOld
		next := randomToken("AQ")
		ent.rotatedAt = now
		c.current = next
		e.refresh[next] = &refreshEntry{chain: c}
		res.refreshToken = next
	}
	return res, nil
}

// newCode records an authorisation code issued by /authorize.
func (e *Emulator) newCode(redirectURI, scope, challenge string) string {
	code := randomToken("AQ")
	now := e.now()
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	e.sweepGrantsLocked(now)
	e.codes[code] = &authCode{redirectURI: redirectURI, scope: scope, challenge: challenge, issuedAt: now}
	return code
}

// exchangeCode performs grant_type=authorization_code. A code is consumed
// by the first exchange that finds it, whether that succeeds or not, as
// OAuth requires of single-use codes.
func (e *Emulator) exchangeCode(code, redirectURI, verifier string, public bool) (grantResult, *tokenError) {
	now := e.now()
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	c := e.codes[code]
	if c == nil {
		return grantResult{}, invalidGrant("Invalid authorization code")
	}
	if public && c.challenge == "" {
		return grantResult{}, errInvalidClient
	}
	delete(e.codes, code)
	switch {
	case now.Sub(c.issuedAt) >= codeLifetime:
		return grantResult{}, invalidGrant("Authorization code expired")
	case redirectURI != c.redirectURI:
		return grantResult{}, invalidGrant("Invalid redirect URI")
	case c.challenge != "" && verifier == "":
		return grantResult{}, &tokenError{status: 400, code: "invalid_request", description: "code_verifier required"}
	case c.challenge != "" && s256(verifier) != c.challenge:
		return grantResult{}, invalidGrant("code_verifier was incorrect")
	}
	tok := randomToken("AQ")
	ch := e.newChainLocked(tok, c.scope, c.challenge != "")
	return grantResult{user: ch.user, scope: c.scope, refreshToken: tok}, nil
}

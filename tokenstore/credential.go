package tokenstore

import (
	"errors"
	"fmt"
	"time"
)

// Errors a Source returns to its callers (the proxy maps them to Spotify-shaped answers).
var (
	// ErrNoToken: the account has no record (and is not the client-credentials account).
	ErrNoToken = errors.New("tokenstore: no token for account")
	// ErrReauthRequired: the refresh token was rejected; a user must log in again.
	ErrReauthRequired = errors.New("tokenstore: account needs re-authorisation")
	// ErrStaleDelivery: a delivered token is older than the stored one.
	ErrStaleDelivery = errors.New("tokenstore: delivered token is older than the stored one")
	// ErrRefreshTooSoon (from Invalidate): Spotify's 401 was for a token that was
	// itself obtained because of a 401, less than UnauthorizedRefreshInterval ago. No
	// refresh is made; the caller lets the 401 through.
	ErrRefreshTooSoon = errors.New("tokenstore: a 401 for a token obtained because of a 401 moments ago; not refreshing again")
)

// UnavailableError: no valid token can be had now (token endpoint or store failing).
type UnavailableError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("tokenstore: token unavailable (retry after %s): %v", e.RetryAfter, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Credential is a usable access token. It is shared and must not be modified.
type Credential struct {
	// Authorization is the ready header value, "Bearer <access token>".
	Authorization string
	AccessToken   string
	Expiry        time.Time
	Scope         string

	header []string // {Authorization}, shared by every request using the credential

	prov provenance // of the record the Source published it from (see trust.go)
}

// NewCredential builds a Credential for an access token.
func NewCredential(accessToken string, expiry time.Time, scope string) *Credential {
	auth := "Bearer " + accessToken
	return &Credential{Authorization: auth, AccessToken: accessToken, Expiry: expiry, Scope: scope, header: []string{auth}}
}

// AuthorizationHeader is the header value list {"Bearer <access token>"}, built once
// per token so that requests set it without allocating. It is shared: callers must not
// modify it.
func (c *Credential) AuthorizationHeader() []string {
	if c.header == nil {
		return []string{c.Authorization}
	}
	return c.header
}

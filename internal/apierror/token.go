package apierror

import (
	"errors"
	"net/http"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Reasons of the answers to token source failures.
const (
	ReasonNoToken          = "PROXY_NO_TOKEN"
	ReasonReauthRequired   = "PROXY_REAUTH_REQUIRED"
	ReasonTokenUnavailable = "PROXY_TOKEN_UNAVAILABLE"
	ReasonBadRequest       = "ADMIN_BAD_REQUEST"
	ReasonStaleDelivery    = "ADMIN_STALE_DELIVERY"
	ReasonConflict         = "ADMIN_CONFLICT"
	ReasonStoreUnavailable = "ADMIN_STORE_UNAVAILABLE"
)

// Retry-After of the failures that carry none of their own.
const (
	// StoreRetryAfter: the token source or its store failed in a way it did not
	// expect; a retry in a few seconds may find it back.
	StoreRetryAfter = 5 * time.Second
	// ConflictRetryAfter: other writers kept changing the account; a retry soon
	// usually gets through.
	ConflictRetryAfter = time.Second
)

// Subject is what a request asks for; it decides the status of a missing token.
type Subject int

const (
	// Forwarded: a Web API call made with the account's token. A missing token is
	// 401, as the Web API answers a call without one.
	Forwarded Subject = iota
	// TokenResource: the token itself is what is asked for (the admin API's GET
	// …/token). A missing token is 404.
	TokenResource
)

const (
	msgNoToken     = "no token is stored for this account"
	msgReauth      = "the account's refresh token was rejected; the user must authorise the app again"
	msgUnavailable = "no valid access token can be obtained right now"
	msgStale       = "the stored refresh token was obtained after this one (obtained_at); nothing was changed"
	msgBadAccount  = "invalid account id"
	msgConflict    = "the account changed during the delivery; try again"
	msgStore       = "the token store failed; try again"
)

// ForToken is the answer to a failure of the token source's Token, Fresh or
// Invalidate. known is false for an error the token source does not document; its
// answer is a 503 PROXY_TOKEN_UNAVAILABLE with StoreRetryAfter.
func ForToken(err error, s Subject) (a Answer, known bool) {
	var ue *tokenstore.UnavailableError
	switch {
	case errors.Is(err, tokenstore.ErrReauthRequired):
		return Answer{Status: http.StatusUnauthorized, Reason: ReasonReauthRequired, Message: msgReauth}, true
	case errors.Is(err, tokenstore.ErrNoToken):
		status := http.StatusUnauthorized
		if s == TokenResource {
			status = http.StatusNotFound
		}
		return Answer{Status: status, Reason: ReasonNoToken, Message: msgNoToken}, true
	case errors.As(err, &ue):
		return Answer{Status: http.StatusServiceUnavailable, Reason: ReasonTokenUnavailable, Message: msgUnavailable, RetryAfter: ue.RetryAfter}, true
	default:
		return Answer{Status: http.StatusServiceUnavailable, Reason: ReasonTokenUnavailable, Message: msgUnavailable, RetryAfter: StoreRetryAfter}, false
	}
}

// ForStore is the answer to a failure of the token source's Deliver, Delete or List.
// known is false for an error the token source does not document (the store
// failed); its answer is a 503 ADMIN_STORE_UNAVAILABLE with StoreRetryAfter.
func ForStore(err error) (a Answer, known bool) {
	switch {
	case errors.Is(err, tokenstore.ErrStaleDelivery):
		return Answer{Status: http.StatusConflict, Reason: ReasonStaleDelivery, Message: msgStale}, true
	case errors.Is(err, tokenstore.ErrBadAccount):
		return Answer{Status: http.StatusBadRequest, Reason: ReasonBadRequest, Message: msgBadAccount}, true
	case errors.Is(err, tokenstore.ErrVersionConflict):
		return Answer{Status: http.StatusServiceUnavailable, Reason: ReasonConflict, Message: msgConflict, RetryAfter: ConflictRetryAfter}, true
	default:
		return Answer{Status: http.StatusServiceUnavailable, Reason: ReasonStoreUnavailable, Message: msgStore, RetryAfter: StoreRetryAfter}, false
	}
}

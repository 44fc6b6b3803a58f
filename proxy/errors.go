package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/apierror"
)

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*state)
	var status int
	var te *tokenErr
	switch {
	case st != nil && st.in != nil && st.in.timedOut.Load():
		status = p.bodyTimedOut(w) // a streamed body stopped arriving
	case errors.As(err, &te):
		status = p.tokenError(w, r, te.err)
	case r.Context().Err() != nil:
		status = 499 // the caller went away; nothing to answer
	default:
		p.log.Warn("upstream request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		status = p.fail(w, http.StatusBadGateway, "PROXY_UPSTREAM_UNREACHABLE", "the Spotify Web API could not be reached", 0)
	}
	if st != nil {
		st.status = status
	}
}

// tokenError answers a token source failure and returns the status sent.
func (p *Proxy) tokenError(w http.ResponseWriter, r *http.Request, err error) int {
	a, known := apierror.ForToken(err, apierror.Forwarded)
	if !known {
		if r.Context().Err() != nil {
			return 499 // the caller went away; nothing to answer
		}
		p.log.Error("token source failed", "error", err)
	}
	a.Write(w)
	return a.Status
}

// fail writes a proxy-made error and returns its status.
func (p *Proxy) fail(w http.ResponseWriter, status int, reason, message string, retryAfter time.Duration) int {
	apierror.Write(w, status, reason, message, retryAfter)
	return status
}

package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

// Spotify's rate limit (Config.RateLimit): before a request is sent, the gate
// decides whether it goes now, waits, or is answered 429 by the proxy; a 429 from
// Spotify is recorded as a block for every replica and passes through unchanged.

// maxReasonPeek is how much of a 429's body is read to find Spotify's reason; the
// bytes read are put back in front of the rest, so the caller gets the body whole.
const maxReasonPeek = 4 << 10

// admitRateLimit asks the gate; it answers the caller itself and returns false
// when the request must not be sent.
func (p *Proxy) admitRateLimit(w http.ResponseWriter, r *http.Request, st *state) bool {
	g := p.cfg.RateLimit
	if g == nil {
		return true
	}
	pass, err := g.Admit(r.Context(), st.account)
	if err == nil {
		st.pass, st.admitted = pass, true
		return true
	}
	var rej *ratelimit.Rejected
	switch {
	case errors.As(err, &rej):
		st.status = p.fail(w, http.StatusTooManyRequests, rej.Reason, rateLimitMessage(rej), rej.RetryAfter)
	case r.Context().Err() != nil:
		st.status = 499 // the caller left while waiting
	default:
		st.status = p.fail(w, http.StatusServiceUnavailable, "PROXY_RATE_LIMITED", "the rate limit could not be checked", 0)
	}
	return false
}

func rateLimitMessage(rej *ratelimit.Rejected) string {
	if rej.Cause == "budget" {
		return "the proxy's rate limit budget for Spotify is spent; retry after Retry-After seconds"
	}
	return "Spotify's rate limit is in force for this app; retry after Retry-After seconds"
}

// observeRateLimit runs on Spotify's answer: a 429 blocks the app (after reading
// the start of its body for the reason), and the probe's answer ends the probing.
func (p *Proxy) observeRateLimit(resp *http.Response, st *state) {
	g := p.cfg.RateLimit
	if g == nil || st == nil {
		return
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		reason := ""
		if resp.Body != nil && resp.Body != http.NoBody {
			head, _ := io.ReadAll(io.LimitReader(resp.Body, maxReasonPeek))
			reason = ratelimit.ReasonFromBody(head)
			resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), c: resp.Body}
		}
		wait := ratelimit.ParseRetryAfter(resp.Header.Get("Retry-After"), p.now())
		g.Record(resp.Request.Context(), wait, reason)
	}
	if st.admitted {
		g.Done(st.pass, resp.StatusCode)
		st.admitted = false
	}
}

// rateLimitDone ends a probe that got no answer (connection error, caller gone).
func (p *Proxy) rateLimitDone(st *state) {
	if st.admitted {
		p.cfg.RateLimit.Done(st.pass, 0)
		st.admitted = false
	}
}

// blockedNow reports whether a retry must not be sent: a block is in force.
func (p *Proxy) blockedNow() bool {
	g := p.cfg.RateLimit
	return g != nil && g.Blocked().Until.After(p.now())
}

type peekedBody struct {
	io.Reader
	c io.Closer
}

func (b *peekedBody) Close() error { return b.c.Close() }

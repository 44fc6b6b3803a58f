package proxy

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Safe retries (Config.UpstreamRetries): a GET or HEAD that Spotify answers 502, 503
// or 504, or does not answer at all (a connection error before any response byte),
// is sent again with jittered backoff, within the retry budget. A 429 is never
// retried (the rate-limit block handles it), nor is any other method, nor a request
// whose body cannot be replayed, nor anything while a block is in force.

// maxRetryBackoff caps one backoff.
const maxRetryBackoff = time.Second

// retryReason says why an answer may be retried, or "" when it may not.
func retryReason(resp *http.Response, err error) string {
	switch {
	case err != nil:
		return metrics.RetryConnectionError
	case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable,
		resp.StatusCode == http.StatusGatewayTimeout:
		return metrics.RetryServerError
	}
	return ""
}

// roundTripRetrying is one round trip to Spotify with the safe retries.
func (t *retrier) roundTripRetrying(req *http.Request, st *state) (*http.Response, error) {
	p := t.p
	if p.retryBudget != nil {
		p.retryBudget.Request()
	}
	resp, err := t.base.RoundTrip(req)
	if p.retryBudget == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead) || !replayable(req, st) {
		return resp, err
	}
	for attempt := 1; attempt <= p.cfg.UpstreamRetries; attempt++ {
		reason := retryReason(resp, err)
		if reason == "" || req.Context().Err() != nil || p.blockedNow() || !p.retryBudget.Withdraw() {
			return resp, err
		}
		if resp != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		}
		if err := sleepCtx(req.Context(), p.backoff(attempt)); err != nil {
			return nil, err
		}
		retry := req.Clone(req.Context())
		if st != nil && st.body != nil {
			setBody(retry, st.body)
		}
		resp, err = t.base.RoundTrip(retry)
		p.m.RetryFor(reason, retryReason(resp, err) == "")
	}
	return resp, err
}

// replayable: the request has no body, or its body is buffered.
func replayable(req *http.Request, st *state) bool {
	return req.Body == nil || req.Body == http.NoBody || (st != nil && st.replay)
}

// backoff is the wait before retry number attempt: uniformly between half and all
// of base·2^(attempt-1), capped.
func (p *Proxy) backoff(attempt int) time.Duration {
	d := min(p.cfg.RetryBackoff<<(attempt-1), maxRetryBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

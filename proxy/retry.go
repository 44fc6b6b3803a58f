package proxy

import (
	"errors"
	"io"
	"net/http"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// retrier sends a request and, on a 401, asks for a replacement token and sends it
// once more with the buffered body. The second answer is what the caller gets.
type retrier struct {
	p    *Proxy
	base http.RoundTripper
}

// tokenErr carries a token source failure from the transport to the ErrorHandler.
type tokenErr struct{ err error }

func (e *tokenErr) Error() string { return e.err.Error() }
func (e *tokenErr) Unwrap() error { return e.err }

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(stateKey{}).(*state)
	resp, err := t.send(req, st)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	rejected := t.p.now()
	if st == nil || !st.replay {
		t.p.tr.retrySkipped(st, "body_not_replayable")
		return resp, nil // a body too large to replay: the 401 passes through
	}
	ctx, span := t.p.tr.startRetry(req.Context(), st, resp)
	defer span.End()
	cred, err := t.p.invalidate(ctx, st, rejected)
	if errors.Is(err, tokenstore.ErrRefreshTooSoon) {
		t.p.tr.retrySkipped(st, "refresh_too_soon")
		return resp, nil // a 401 storm: Spotify's own 401 passes through, body and all
	}
	// Drain (a little) so the connection can be reused, then close.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
	if err != nil {
		t.p.m.Retry(false)
		return nil, &tokenErr{err}
	}
	st.cred = cred
	retry := req.Clone(ctx)
	retry.Header[headerAuth] = cred.AuthorizationHeader()
	if st.body != nil {
		setBody(retry, st.body)
	}
	resp, err = t.send(retry, st)
	t.p.m.Retry(err == nil && resp.StatusCode != http.StatusUnauthorized)
	return resp, err
}

// send is one round trip; the answer's body comes back under UpstreamIdleTimeout.
func (t *retrier) send(req *http.Request, st *state) (*http.Response, error) {
	resp, err := t.roundTripRetrying(req, st)
	if err == nil && st != nil && t.p.cfg.UpstreamIdleTimeout > 0 && resp.Body != nil && resp.Body != http.NoBody &&
		resp.StatusCode != http.StatusSwitchingProtocols { // an upgraded body is the connection itself
		st.up.watch(resp.Body, t.p.cfg.UpstreamIdleTimeout)
		resp.Body = &st.up
	}
	return resp, err
}

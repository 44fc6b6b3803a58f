package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// errBodyTimeout is what a request body's Read returns once it stopped arriving.
var errBodyTimeout = errors.New("proxy: the request body stopped arriving")

// initialReplayBuffer is the most a replay buffer starts with: it then grows with
// what has arrived, never with what Content-Length announces.
const initialReplayBuffer = 4 << 10

// hasBody reports whether r comes with a body to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// timedBody is a caller's request body under BodyReadTimeout. The deadline is
// idle-based: each Read gets the whole timeout, so an upload that keeps arriving is
// never cut and one that stalls, or never starts, ends. Only requests with a body
// get one (a GET pays nothing). It is not pooled: the transport may still read it
// after ServeHTTP returns. Network deadlines are checked by the runtime against the
// real clock, so they come from time.Now, not Config.Now.
type timedBody struct {
	body     io.ReadCloser
	w        http.ResponseWriter
	timeout  time.Duration
	timedOut atomic.Bool
}

// newTimedBody sets the first deadline at once: it also bounds what net/http reads of
// a body the proxy refused without reading (the rest it discards after the answer).
func newTimedBody(w http.ResponseWriter, body io.ReadCloser, timeout time.Duration) *timedBody {
	b := &timedBody{body: body, w: w, timeout: timeout}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	return b
}

func (b *timedBody) Read(p []byte) (int, error) {
	rc := http.NewResponseController(b.w)
	if rc.SetReadDeadline(time.Now().Add(b.timeout)) != nil {
		return b.body.Read(p) // not a net/http connection: no deadlines
	}
	n, err := b.body.Read(p)
	switch {
	case err == nil:
	case isTimeout(err):
		b.timedOut.Store(true)
		err = errBodyTimeout
	default:
		// The end of the body (or of the connection): lift the deadline, which
		// would otherwise end net/http's own read of the idle connection, and with
		// it the request's context.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *timedBody) Close() error { return b.body.Close() }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// bodyTimedOut answers a request whose body stopped arriving; the connection closes
// (what is left of the body is never read).
func (p *Proxy) bodyTimedOut(w http.ResponseWriter) int {
	w.Header().Set("Connection", "close")
	return p.fail(w, http.StatusRequestTimeout, "PROXY_BODY_TIMEOUT",
		"the request body stopped arriving for "+p.cfg.BodyReadTimeout.String()+" (BODY_READ_TIMEOUT)", 0)
}

// bufferBody reads bodies up to MaxReplayBody into memory so they can be sent twice.
// The buffer grows with what has arrived, and every byte of it is reserved from
// MaxReplayMemory first. A larger body, or one the reservation cannot hold, streams:
// the prefix already read is sent first, and a 401 to it passes through.
func (p *Proxy) bufferBody(r *http.Request, st *state) error {
	if !hasBody(r) {
		st.replay = true
		return nil
	}
	replayMax := p.cfg.MaxReplayBody
	if r.ContentLength > replayMax {
		return nil // streams; not replayable
	}
	// One byte more than may be replayed tells a body that is too large.
	limit := replayMax + 1
	if r.ContentLength > 0 {
		limit = r.ContentLength + 1
	}
	size := min(limit, initialReplayBuffer)
	if !p.reserve(st, size) {
		return nil // the replay memory is taken: stream
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				break // more than may be replayed
			}
			grow := min(2*int64(cap(buf)), limit)
			if !p.reserve(st, grow-int64(cap(buf))) {
				break
			}
			buf = append(make([]byte, 0, grow), buf...)
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			r.Body.Close()
			st.body, st.replay = buf, true
			r.Body = http.NoBody
			return nil
		}
		if err != nil {
			return err
		}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	return nil
}

// reserve takes n bytes of MaxReplayMemory for st's replay buffer, or reports that
// they are not free. The request gives them back when it ends.
func (p *Proxy) reserve(st *state, n int64) bool {
	if p.cfg.MaxReplayMemory < 0 {
		return true
	}
	if p.replayHeld.Add(n) > p.cfg.MaxReplayMemory {
		p.replayHeld.Add(-n)
		return false
	}
	st.reserved += n
	return true
}

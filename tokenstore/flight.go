package tokenstore

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// flight is one attempt at obtaining an account's token, which every caller of the
// account that arrives meanwhile waits for.
type flight struct {
	done chan struct{} // closed when cred, err and span are set
	cred *Credential
	err  error
	span trace.SpanContext // the flight's span; zero when it is not traced
}

// flights is an account's single flight: at most one flight runs at a time. Its
// mutex guards cur only.
type flights struct {
	mu  sync.Mutex
	cur *flight
}

// begin returns the running flight, or starts one (started true) if none runs.
func (g *flights) begin() (f *flight, started bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != nil {
		return g.cur, false
	}
	g.cur = &flight{done: make(chan struct{})}
	return g.cur, true
}

// beginIf starts a flight if none runs and ok() holds (checked under the lock); it
// returns nil otherwise.
func (g *flights) beginIf(ok func() bool) *flight {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != nil || !ok() {
		return nil
	}
	g.cur = &flight{done: make(chan struct{})}
	return g.cur
}

// finish hands f's result (and its span, to link to) to its waiters; the next begin
// starts a new flight.
func (g *flights) finish(f *flight, cred *Credential, err error, span trace.SpanContext) {
	f.cred, f.err, f.span = cred, err, span
	g.mu.Lock()
	g.cur = nil
	g.mu.Unlock()
	close(f.done)
}

// demand is what a flight has to produce.
type demand struct {
	cause Cause     // why a token is needed; CauseNone: a background re-check of the store
	rej   rejection // the 401 behind it, if any (cause CauseUnauthorized)
	// since (cause CauseValidate): a token refreshed after it answers without a
	// refresh; it proves the refresh token worked since then.
	since time.Time
}

// background starts a refresh (cause set) or a store re-check without making the
// caller wait, unless a flight runs or the account's state is no longer c. When
// traced, the flight's span is a child of the caller's (ctx), which it outlives.
func (s *Source) background(ctx context.Context, e *entry, c *cached, cause Cause) {
	f := e.flights.beginIf(func() bool { return e.state.Load() == c })
	if f == nil {
		return
	}
	parent := s.tr.parent(ctx)
	s.life.goroutine(func() { s.fly(e, f, demand{cause: cause}, parent) })
}

// join makes the caller wait for the account's flight, starting one if none runs.
func (s *Source) join(ctx context.Context, e *entry, d demand) (*Credential, error) {
	for round := 0; ; round++ {
		f, started := e.flights.begin()
		if started {
			parent := s.tr.parent(ctx)
			s.life.goroutine(func() { s.fly(e, f, d, parent) })
		} else {
			s.obs.Raced(RaceCoalesced)
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !started {
			s.tr.joined(ctx, f.span)
		}
		if f.err == nil && !d.rej.none() && !d.rej.takesFlight(f.cred.AccessToken, f.cred.prov, started || round > 0) {
			continue
		}
		return f.cred, f.err
	}
}

// fly runs one flight. It is detached from the callers' contexts: a caller that gives
// up does not cancel a refresh others wait for. Its span continues parent, the
// trace of the caller that started it.
func (s *Source) fly(e *entry, f *flight, d demand, parent trace.SpanContext) {
	// Not cancelled by Close: a token call cut off after Spotify rotated the refresh
	// token would lose the account. RefreshTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.life.ctx), s.cfg.RefreshTimeout)
	defer cancel()
	ctx, span := s.tr.startFlight(ctx, parent, e.account, d.cause)
	cred, err := s.obtain(ctx, e, d)
	span.End()
	e.flights.finish(f, cred, err, span.SpanContext())
}

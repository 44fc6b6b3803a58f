package tokenstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// clock is the manual clock of the package's tests.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) }

// fakeSpotify is the token endpoint of the package's tests, behaving like Spotify's:
// a refresh answers with a new access token and, when rotating, a new refresh token
// that revokes the one used; a dead refresh token gets invalid_grant. Liveness is
// checked when the answer is produced, as a server would when it commits.
type fakeSpotify struct {
	now      func() time.Time
	lifetime time.Duration
	latency  time.Duration // each refresh answers after this (real time)
	rotate   bool          // rotate refresh tokens (default); false: answer with the same one
	omit     bool          // answer without refresh_token
	block    chan struct{} // when set, refreshes wait for it to close
	// gate, when set, is called first with the call's number (1, 2, …); tests block
	// in it to order replicas.
	gate func(call int64)
	// onRefresh, when set, runs before a successful answer (e.g. to kill Redis).
	onRefresh func()

	mu        sync.Mutex
	live      map[string]bool // live refresh tokens
	failNext  int             // temporary failures to inject
	serial    int
	issued    []string // access tokens, in order
	lastToken string

	calls   atomic.Int64
	done    atomic.Int64 // answered refresh calls
	ccCalls atomic.Int64
	invalid atomic.Int64
}

func newFakeSpotify(now func() time.Time, lifetime time.Duration) *fakeSpotify {
	return &fakeSpotify{now: now, lifetime: lifetime, rotate: true, live: map[string]bool{}}
}

// issue hands out a live refresh token, as a login would.
func (f *fakeSpotify) issue() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serial++
	rt := fmt.Sprintf("rt-%d", f.serial)
	f.live[rt] = true
	return rt
}

func (f *fakeSpotify) Refresh(ctx context.Context, rt string) (tokenstore.Token, error) {
	n := f.calls.Add(1)
	defer f.done.Add(1)
	if f.gate != nil {
		f.gate(n)
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return tokenstore.Token{}, ctx.Err()
		}
	}
	if f.latency > 0 {
		select {
		case <-time.After(f.latency):
		case <-ctx.Done():
			return tokenstore.Token{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return tokenstore.Token{}, errors.New("status 503")
	}
	if !f.live[rt] {
		f.invalid.Add(1)
		return tokenstore.Token{}, fmt.Errorf("%w: Refresh token revoked", tokenstore.ErrInvalidGrant)
	}
	if f.onRefresh != nil {
		f.onRefresh()
	}
	f.serial++
	tok := tokenstore.Token{AccessToken: fmt.Sprintf("at-%d", f.serial), Expiry: f.now().Add(f.lifetime), Scope: "user-read-private"}
	switch {
	case f.omit:
	case f.rotate:
		delete(f.live, rt)
		tok.RefreshToken = fmt.Sprintf("rt-%d", f.serial)
		f.live[tok.RefreshToken] = true
	default:
		tok.RefreshToken = rt
	}
	f.issued = append(f.issued, tok.AccessToken)
	f.lastToken = tok.AccessToken
	return tok, nil
}

func (f *fakeSpotify) ClientCredentials(context.Context) (tokenstore.Token, error) {
	f.ccCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serial++
	tok := tokenstore.Token{AccessToken: fmt.Sprintf("cc-%d", f.serial), Expiry: f.now().Add(f.lifetime)}
	f.issued = append(f.issued, tok.AccessToken)
	return tok, nil
}

func (f *fakeSpotify) isLive(rt string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live[rt]
}

func (f *fakeSpotify) issuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

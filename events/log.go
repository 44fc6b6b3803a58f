package events

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Defaults of Options.
const (
	DefaultRetryFor     = 24 * time.Hour
	DefaultPollInterval = time.Second
	DefaultConcurrency  = 4
	// DefaultKeepEvery must stay well under the Redis backend's ClaimIdle.
	DefaultKeepEvery = 15 * time.Second
	// emitTimeout bounds storing one event.
	emitTimeout = 5 * time.Second
	// startTimeout bounds New's attempt to set up delivery in the backend.
	startTimeout = 2 * time.Second
	// gaugeEvery is how often the oldest-undelivered gauge is recomputed.
	gaugeEvery = 10 * time.Second
	// tidyEvery is how often delivery forgets the consumers of replicas gone for
	// tidyIdle with nothing pending.
	tidyEvery, tidyIdle = time.Hour, time.Hour
)

// Options configures a Log. Only Backend is required.
type Options struct {
	Backend Backend
	// WebhookURL receives the events (WEBHOOK_URL; nil: events are only kept for
	// polling). Secret signs them (WEBHOOK_SECRET; required with WebhookURL).
	WebhookURL *url.URL
	Secret     Secret
	// RetryFor is how long after an event its delivery is retried (WEBHOOK_RETRY_FOR;
	// default DefaultRetryFor).
	RetryFor time.Duration
	// Lifetime is the refresh token lifetime counted from authorized_at
	// (REFRESH_TOKEN_LIFETIME; 0: none, expires_at is null).
	Lifetime time.Duration
	// Client makes the webhook requests (nil: a client of its own). Redirects are
	// never followed.
	Client *http.Client
	// AttemptTimeout bounds one attempt (default DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// RetryBase and RetryMax shape the backoff (defaults DefaultRetryBase, DefaultRetryMax).
	RetryBase, RetryMax time.Duration
	// PollInterval is how often the backend is asked for events other replicas
	// added (default DefaultPollInterval); events added here are sent at once.
	PollInterval time.Duration
	// Concurrency bounds the attempts in flight (default DefaultConcurrency).
	Concurrency int
	// KeepEvery is how often held events are marked as still being worked on
	// (default DefaultKeepEvery; keep it under the Redis backend's ClaimIdle).
	KeepEvery time.Duration
	Metrics   *metrics.Metrics // nil: nothing recorded
	Logger    *slog.Logger     // nil: discarded
	Now       func() time.Time // nil: time.Now
	// Rand returns a number in [0, 1) for the jitter (nil: math/rand/v2.Float64).
	Rand func() float64
}

// Log emits account events, keeps them in its backend and delivers them. It is
// safe for concurrent use.
type Log struct {
	opts Options
	b    Backend
	log  *slog.Logger
	m    *metrics.Metrics
	now  func() time.Time
	d    *deliverer // nil without a webhook
	wake chan struct{}
}

// ErrNoSecret: a webhook URL without a secret.
var ErrNoSecret = errors.New("events: a webhook needs a secret (WEBHOOK_SECRET)")

// New returns a Log. With a webhook, Run delivers the events.
func New(opts Options) (*Log, error) {
	if opts.Backend == nil {
		return nil, errors.New("events: no backend")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = DefaultRetryFor
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.KeepEvery <= 0 {
		opts.KeepEvery = DefaultKeepEvery
	}
	l := &Log{opts: opts, b: opts.Backend, log: opts.Logger, m: opts.Metrics, now: opts.Now, wake: make(chan struct{}, 1)}
	if opts.WebhookURL != nil {
		if opts.Secret.IsZero() {
			return nil, ErrNoSecret
		}
		l.d = &deliverer{
			b:           opts.Backend,
			hook:        newWebhook(opts.WebhookURL, opts.Secret, opts.Client, opts.AttemptTimeout, opts.Now),
			backoff:     backoff{base: opts.RetryBase, max: opts.RetryMax, rand: opts.Rand},
			retryFor:    opts.RetryFor,
			concurrency: opts.Concurrency,
			keepEvery:   opts.KeepEvery,
			now:         opts.Now,
			m:           opts.Metrics,
			log:         opts.Logger,
			owned:       map[string]*flight{},
		}
		// Before any event is emitted, so that the first ones are delivered too; when
		// the store does not answer yet, Run tries again.
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		_ = l.b.startDelivery(ctx)
		cancel()
	}
	return l, nil
}

// Emit stores an event (its time defaults to now, expires_at follows from
// authorized_at and the lifetime) and wakes the deliverer. The stored event, with
// its id, is returned.
func (l *Log) Emit(ctx context.Context, e Event) (Event, error) {
	e, _, err := l.emit(ctx, e, "")
	return e, err
}

func (l *Log) emit(ctx context.Context, e Event, once string) (Event, bool, error) {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	if e.ExpiresAt.IsZero() && !e.AuthorizedAt.IsZero() && l.opts.Lifetime > 0 {
		e.ExpiresAt = e.AuthorizedAt.Add(l.opts.Lifetime)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), emitTimeout)
	defer cancel()
	e, stored, err := l.b.append(ctx, e, once)
	if err != nil {
		l.m.StoreError(metrics.OpEvents)
		l.log.Error("events: an event could not be stored; it is lost", "type", string(e.Type), "account", e.Account, "error", err)
		return e, false, err
	}
	if !stored {
		return e, false, nil
	}
	l.m.EventEmitted(string(e.Type))
	l.log.Info("event", "id", e.ID, "type", string(e.Type), "account", e.Account)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return e, true, nil
}

// Linked records account.linked: a login, or an admin delivery of a new account.
func (l *Log) Linked(ctx context.Context, account string, authorizedAt time.Time) {
	_, _ = l.Emit(ctx, Event{Type: AccountLinked, Account: account, Status: StatusOK, AuthorizedAt: authorizedAt})
}

// Deleted records account.deleted and forgets the account's once marks.
func (l *Log) Deleted(ctx context.Context, account string) {
	if _, err := l.Emit(ctx, Event{Type: AccountDeleted, Account: account, Status: StatusDeleted}); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), emitTimeout)
	defer cancel()
	if err := l.b.forget(ctx, account); err != nil {
		l.m.StoreError(metrics.OpEvents)
		l.log.Warn("events: clearing the account's expiry mark failed", "account", account, "error", err)
	}
}

// Recent returns up to limit of the latest events, newest first, with their
// delivery state (for an operator's page).
func (l *Log) Recent(ctx context.Context, limit int) ([]Entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	entries, err := l.b.recent(ctx, limit)
	if err != nil {
		l.m.StoreError(metrics.OpEvents)
	}
	return entries, err
}

// Run delivers events to the webhook until ctx ends. Without a webhook it returns
// at once.
func (l *Log) Run(ctx context.Context) {
	if l.d == nil {
		return
	}
	failing := false
	for {
		err := l.b.startDelivery(ctx)
		if err == nil {
			break
		}
		if ctx.Err() == nil {
			l.m.StoreError(metrics.OpEvents)
		}
		if !failing {
			failing = true
			l.log.Warn("events: cannot start delivery yet; retrying", "error", err)
		}
		if !l.sleep(ctx, l.opts.PollInterval) {
			return
		}
	}
	var lastGauge, lastTidy time.Time
	for {
		next, err := l.d.step(ctx)
		if err != nil && ctx.Err() == nil {
			l.m.StoreError(metrics.OpEvents)
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			l.log.Warn("events: the event store fails; delivery waits", "error", err)
		case err == nil && failing:
			failing = false
			l.log.Info("events: the event store answers again")
		}
		if now := l.now(); now.Sub(lastGauge) >= gaugeEvery {
			l.updateGauge(ctx)
			lastGauge = now
		}
		if now := l.now(); now.Sub(lastTidy) >= tidyEvery {
			if n, err := l.b.tidy(ctx, tidyIdle); err != nil && ctx.Err() == nil {
				l.log.Warn("events: forgetting departed replicas failed", "error", err)
			} else if n > 0 {
				l.log.Info("events: forgot the consumers of departed replicas", "count", n)
			}
			lastTidy = now
		}
		wait := l.opts.PollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(l.now()), 0))
		}
		if !l.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits d, or less when an event is emitted here; false when ctx ended.
func (l *Log) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-l.wake:
	case <-t.C:
	}
	return true
}

func (l *Log) updateGauge(ctx context.Context) {
	oldest, err := l.b.oldestUndelivered(ctx)
	if err != nil {
		return
	}
	if oldest.IsZero() {
		l.m.SetOldestUndelivered(0)
		return
	}
	l.m.SetOldestUndelivered(l.now().Sub(oldest))
}

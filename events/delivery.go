package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// flight is an event this replica holds for delivery.
type flight struct {
	ev       Event
	attempts int
	next     time.Time // when the next attempt is due
}

// deliverer sends the events the backend hands this replica, retrying failures
// until retryFor after the event. Only the Log's loop calls step, so its state
// needs no lock.
type deliverer struct {
	b           Backend
	hook        *webhook
	backoff     backoff
	retryFor    time.Duration
	concurrency int
	keepEvery   time.Duration
	now         func() time.Time
	m           *metrics.Metrics
	log         logger

	owned    map[string]*flight
	lastKeep time.Time
}

// logger is the part of *slog.Logger the deliverer uses.
type logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// maxOwned bounds the events one replica holds at once.
const maxOwned = 1000

// step fetches what the backend hands out, makes every attempt that is due, and
// returns when the next attempt is due (zero: nothing held).
func (d *deliverer) step(ctx context.Context) (time.Time, error) {
	var fetchErr error
	if room := maxOwned - len(d.owned); room > 0 {
		evs, err := d.b.fetch(ctx, min(room, 100))
		fetchErr = err
		now := d.now()
		for _, e := range evs {
			if _, ok := d.owned[e.ID]; !ok {
				d.owned[e.ID] = &flight{ev: e, next: now}
			}
		}
	}
	now := d.now()
	var due []*flight
	for _, f := range d.owned {
		if !f.next.After(now) {
			due = append(due, f)
		}
	}
	errs := make([]error, len(due))
	// Slow attempts can outlast the backend's claim idle time: keep the held events
	// claimed while they run, so no other replica takes them over meanwhile.
	stopKeeping := d.keepWhile(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, d.concurrency)
	for i, f := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = d.hook.send(ctx, f.ev)
		}()
	}
	wg.Wait()
	stopKeeping()
	var finishErr error
	for i, f := range due {
		if err := d.settle(ctx, f, errs[i]); err != nil {
			finishErr = err
		}
	}
	if len(d.owned) > 0 && d.now().Sub(d.lastKeep) >= d.keepEvery {
		ids := make([]string, 0, len(d.owned))
		for id := range d.owned {
			ids = append(ids, id)
		}
		if lost, err := d.b.keep(ctx, ids); err != nil {
			finishErr = err
		} else {
			d.letGo(lost)
			d.lastKeep = d.now()
		}
	}
	var next time.Time
	for _, f := range d.owned {
		if next.IsZero() || f.next.Before(next) {
			next = f.next
		}
	}
	return next, errors.Join(fetchErr, finishErr)
}

// settle records an attempt's result: delivered, retried later, or dropped once
// retryFor has passed since the event.
func (d *deliverer) settle(ctx context.Context, f *flight, sendErr error) error {
	// An answered attempt is recorded even while the process shuts down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), emitTimeout)
	defer cancel()
	now := d.now()
	f.attempts++
	if sendErr == nil {
		if err := d.b.finish(ctx, f.ev.ID, StateDelivered); err != nil {
			// The event stays held and is sent again: at least once.
			f.next = now
			return err
		}
		delete(d.owned, f.ev.ID)
		d.m.WebhookDelivery(metrics.DeliveryDelivered)
		return nil
	}
	deadline := f.ev.Time.Add(d.retryFor)
	if !now.Before(deadline) {
		if err := d.b.finish(ctx, f.ev.ID, StateDropped); err != nil {
			f.next = now
			return err
		}
		delete(d.owned, f.ev.ID)
		d.m.WebhookDelivery(metrics.DeliveryDropped)
		d.log.Error("events: webhook delivery given up; event dropped",
			"event", f.ev.ID, "type", string(f.ev.Type), "account", f.ev.Account,
			"attempts", f.attempts, "retried_for", now.Sub(f.ev.Time).String(), "error", sendErr)
		return nil
	}
	d.m.WebhookDelivery(metrics.DeliveryRetried)
	wait := d.backoff.delay(f.attempts)
	f.next = now.Add(wait)
	if f.next.After(deadline) {
		f.next = deadline // a last attempt at the deadline
	}
	d.log.Warn("events: webhook delivery failed; will retry",
		"event", f.ev.ID, "type", string(f.ev.Type), "attempt", f.attempts, "retry_in", f.next.Sub(now).String(), "error", sendErr)
	return nil
}

// keepWhile keeps the events held now claimed every keepEvery (real time) until
// the returned stop is called, and then lets go of those another replica took.
func (d *deliverer) keepWhile(ctx context.Context) (stop func()) {
	ids := make([]string, 0, len(d.owned))
	for id := range d.owned {
		ids = append(ids, id)
	}
	done := make(chan struct{})
	lostc := make(chan []string, 1)
	go func() {
		var lost []string
		defer func() { lostc <- lost }()
		t := time.NewTicker(d.keepEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if l, err := d.b.keep(ctx, ids); err == nil {
					lost = append(lost, l...)
				}
			}
		}
	}()
	return func() {
		close(done)
		d.letGo(<-lostc)
	}
}

// letGo forgets events another replica holds now.
func (d *deliverer) letGo(lost []string) {
	for _, id := range lost {
		if _, ok := d.owned[id]; ok {
			delete(d.owned, id)
			d.log.Warn("events: another replica took over an event this one held too long", "id", id)
		}
	}
}

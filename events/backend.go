package events

import (
	"context"
	"time"
)

// Backend keeps events and their delivery state. NewRedisBackend and
// OpenFileBackend are the implementations; the methods are the package's own.
type Backend interface {
	// append assigns e an id and stores it. With a non-empty once, e is stored only
	// if the account's last once mark differs, and the mark is set to once in the
	// same step; stored=false means it was already emitted.
	append(ctx context.Context, e Event, once string) (_ Event, stored bool, _ error)
	// forget clears the account's once mark (the account is gone).
	forget(ctx context.Context, account string) error
	// list returns up to limit events after the id, oldest first.
	list(ctx context.Context, after eventID, limit int) ([]Event, error)
	// recent returns up to limit of the latest events, newest first, with their
	// delivery state.
	recent(ctx context.Context, limit int) ([]Entry, error)

	// startDelivery makes the backend track delivery from now on (a webhook is set).
	startDelivery(ctx context.Context) error
	// fetch hands this replica up to max undelivered events it does not hold yet:
	// new ones, its own from before a restart, and those a dead replica left.
	fetch(ctx context.Context, max int) ([]Event, error)
	// finish records the outcome (delivered or dropped) of an event fetch handed out.
	finish(ctx context.Context, id string, state DeliveryState) error
	// keep tells the backend this replica is still working on the events (they are
	// not to be claimed by another). lost are those another replica holds now (this
	// one was too slow to say so): it lets them go.
	keep(ctx context.Context, ids []string) (lost []string, _ error)
	// tidy forgets what replicas gone for longer than idle left behind and no longer
	// need (consumers with nothing pending); it returns how many.
	tidy(ctx context.Context, idle time.Duration) (int, error)
	// oldestUndelivered is the time of the oldest event not yet delivered or
	// dropped (zero: none).
	oldestUndelivered(ctx context.Context) (time.Time, error)

	// tryLock takes a lock shared by the replicas for at most ttl, without waiting;
	// unlock releases it if this replica still holds it.
	tryLock(ctx context.Context, name string, ttl time.Duration) (bool, error)
	unlock(ctx context.Context, name string) error
}

// nextID is the id after last at time now: ids grow even when the clock steps back.
func nextID(last eventID, now time.Time) eventID {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms <= last.ms {
		return eventID{last.ms, last.seq + 1}
	}
	return eventID{ms, 0}
}

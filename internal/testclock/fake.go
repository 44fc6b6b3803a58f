package testclock

import (
	"sync"
	"time"
)

// Fake is a manual clock with timers: After returns a channel that receives once
// Advance has moved the clock to or past its time. Tests wait with Waiters for a
// goroutine to be parked on a timer instead of sleeping. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	t       time.Time
	timers  []fakeTimer
	changed chan struct{} // closed and replaced whenever a timer is added
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

// NewFake returns a fake clock showing start.
func NewFake(start time.Time) *Fake { return &Fake{t: start, changed: make(chan struct{})} }

// Now is the clock's time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// After returns a channel that receives the clock's time once it reaches now+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	if d <= 0 {
		c <- f.t
		return c
	}
	f.timers = append(f.timers, fakeTimer{at: f.t.Add(d), c: c})
	close(f.changed)
	f.changed = make(chan struct{})
	return c
}

// Advance moves the clock forward by d and fires the timers that are due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(f.t) {
			t.c <- f.t
			continue
		}
		kept = append(kept, t)
	}
	f.timers = kept
}

// Waiters blocks until at least n timers are pending, and returns how many are.
func (f *Fake) Waiters(n int) int {
	for {
		f.mu.Lock()
		got, ch := len(f.timers), f.changed
		f.mu.Unlock()
		if got >= n {
			return got
		}
		<-ch
	}
}

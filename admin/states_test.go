package admin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryStateStore(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := NewMemoryStateStore(c.Now)
	if err := s.Save(ctx, "s1", []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "unknown"); !errors.Is(err, ErrStateNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	got, err := s.Take(ctx, "s1")
	if err != nil || string(got) != "one" {
		t.Fatalf("take: %q %v", got, err)
	}
	if _, err := s.Take(ctx, "s1"); !errors.Is(err, ErrStateNotFound) {
		t.Fatalf("second take: %v", err)
	}

	// Expiry, by the injected clock.
	_ = s.Save(ctx, "s2", []byte("two"), time.Minute)
	c.Add(time.Minute)
	if _, err := s.Take(ctx, "s2"); !errors.Is(err, ErrStateNotFound) {
		t.Fatalf("expired: %v", err)
	}

	// The saved data is a copy.
	buf := []byte("three")
	_ = s.Save(ctx, "s3", buf, time.Minute)
	buf[0] = 'X'
	if got, _ := s.Take(ctx, "s3"); string(got) != "three" {
		t.Fatalf("data aliased: %q", got)
	}
}

func TestMemoryStateStoreBounded(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := newMemoryStateStore(c.Now, 3)
	for i := range 5 {
		c.Add(time.Second)
		_ = s.Save(ctx, fmt.Sprint("s", i), []byte{byte(i)}, time.Minute)
	}
	if n := s.len(); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	for i, want := range []bool{false, false, true, true, true} { // the oldest went first
		_, err := s.Take(ctx, fmt.Sprint("s", i))
		if (err == nil) != want {
			t.Fatalf("s%d: %v", i, err)
		}
	}

	// Expired entries are dropped by later saves.
	_ = s.Save(ctx, "old", nil, time.Second)
	c.Add(time.Minute)
	_ = s.Save(ctx, "new", nil, time.Minute)
	if n := s.len(); n != 1 {
		t.Fatalf("%d entries, want 1 (expired dropped)", n)
	}
	// Saving a state again replaces it.
	_ = s.Save(ctx, "new", []byte("x"), time.Minute)
	if n := s.len(); n != 1 {
		t.Fatalf("%d entries after a re-save", n)
	}
}

func TestMemoryStateStoreConcurrentTake(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStateStore(nil)
	for round := range 50 {
		state := fmt.Sprint("state-", round)
		_ = s.Save(ctx, state, []byte("data"), time.Minute)
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := s.Take(ctx, state); err == nil {
					wins.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d takes won, want 1", round, n)
		}
	}
}

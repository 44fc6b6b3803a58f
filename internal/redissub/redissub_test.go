package redissub

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestFollow(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribed, got := make(chan struct{}, 1), make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, c, "ch", time.Minute, Handlers{
			Subscribed: func() error { subscribed <- struct{}{}; return nil },
			Message:    func(p string) { got <- p },
		})
	}()
	<-subscribed // confirmed: what is published now arrives
	mr.Publish("other", "not for us")
	mr.Publish("ch", "hello")
	if p := <-got; p != "hello" {
		t.Fatalf("got %q", p)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("after ctx ended: %v", err)
	}

	// A broken connection is reported, not waited on.
	done2 := make(chan error, 1)
	subscribed2 := make(chan struct{}, 1)
	go func() {
		done2 <- Follow(context.Background(), c, "ch", time.Minute, Handlers{
			Subscribed: func() error { subscribed2 <- struct{}{}; return nil },
		})
	}()
	<-subscribed2
	mr.Close()
	select {
	case err := <-done2:
		if err == nil || !strings.Contains(err.Error(), "subscription to ch") {
			t.Fatalf("after the server went away: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not report the broken connection")
	}

	// An error from Subscribed ends Follow with it.
	mr2 := miniredis.RunT(t)
	c2 := redis.NewClient(&redis.Options{Addr: mr2.Addr()})
	t.Cleanup(func() { c2.Close() })
	bad := errors.New("cannot read the state")
	if err := Follow(context.Background(), c2, "ch", time.Minute, Handlers{Subscribed: func() error { return bad }}); !errors.Is(err, bad) {
		t.Fatalf("Follow = %v, want the Subscribed error", err)
	}
}

package admin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestRedisStateStoreSingleUseAndExpiry(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()
	s := NewRedisStateStore(client, "p:")
	ctx := context.Background()
	if err := s.Save(ctx, "state-1", []byte("data"), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, k := range mr.Keys() {
		if k == "p:login:state-1" {
			t.Fatal("the raw state is used as a key")
		}
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := s.Take(ctx, "state-1"); err == nil && string(b) == "data" {
				wins.Add(1)
			} else if !errors.Is(err, ErrStateNotFound) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d takes won, want exactly 1", wins.Load())
	}
	s.Save(ctx, "state-2", []byte("x"), 10*time.Minute)
	mr.FastForward(11 * time.Minute)
	if _, err := s.Take(ctx, "state-2"); !errors.Is(err, ErrStateNotFound) {
		t.Fatalf("expired state: %v", err)
	}
}

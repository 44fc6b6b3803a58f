package main

import (
	"context"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redistest"
)

// The storm's short form: with the guard, far fewer calls reach Spotify during a
// block than without it, and callers get the proxy's 429 instead of Spotify's.
func TestStormShortForm(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	srv := redistest.StartServer(t)
	base := scenario{replicas: 2, callers: 16, duration: 4 * time.Second, emuLimit: 20, emuWindow: 2 * time.Second,
		penalty: 100 * time.Millisecond, redisAddr: srv.Addr(), honourRetryAfter: 200 * time.Millisecond}
	off, on := base, base
	off.name, on.name, on.guard = "guard off", "guard on", true
	ro, err := run(context.Background(), off)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := run(context.Background(), on)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + header + "\n" + ro.row() + "\n" + rn.row())
	if ro.rate.DuringBlock == 0 || ro.proxy429.Load() != 0 {
		t.Fatalf("without the guard the storm did not happen: %+v", ro.rate)
	}
	if rn.rate.DuringBlock*3 > ro.rate.DuringBlock || rn.proxy429.Load() == 0 || rn.spotify429.Load()*3 > ro.spotify429.Load() {
		t.Fatalf("the guard did not hold the block: on %d calls during a block, %d Spotify 429s; off %d, %d",
			rn.rate.DuringBlock, rn.spotify429.Load(), ro.rate.DuringBlock, ro.spotify429.Load())
	}
	if rn.rate.BlockedSeconds >= ro.rate.BlockedSeconds {
		t.Fatalf("blocked %.1fs with the guard, %.1fs without", rn.rate.BlockedSeconds, ro.rate.BlockedSeconds)
	}
}

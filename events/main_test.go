package events

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment of the replica process TestReplicaKilledWithEventsPending starts
// (the test binary itself, re-executed).
const (
	envReplicaRedis = "EVENTS_TEST_REPLICA_REDIS"
	envReplicaHook  = "EVENTS_TEST_REPLICA_WEBHOOK"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envReplicaRedis); addr != "" {
		runReplica(addr, os.Getenv(envReplicaHook))
		return
	}
	os.Exit(m.Run())
}

// runReplica is a proxy replica's delivery side: consumer "doomed" of the group,
// retrying failures only an hour later, so whatever it fetched stays pending on it
// until it is killed. It prints "ready" once the group exists.
func runReplica(addr, hook string) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	u, err := url.Parse(hook)
	if err != nil {
		fmt.Println("bad url:", err)
		os.Exit(2)
	}
	secret, _ := ParseSecret(testSecret)
	b := NewRedisBackend(c, RedisOptions{Prefix: "it:", Consumer: "doomed"})
	l, err := New(Options{
		Backend: b, WebhookURL: u, Secret: secret, RetryBase: time.Hour, RetryMax: time.Hour,
		PollInterval: 20 * time.Millisecond, KeepEvery: 50 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	if err := b.startDelivery(context.Background()); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Println("ready")
	l.Run(context.Background()) // until killed
}

package tokenstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// The Redis store is a compare-and-set store: a write names the version it read.
func ExampleNewRedisStore() {
	srv, err := miniredis.Run() // a real deployment: NewRedisClient with its RedisOptions
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "redis://" + srv.Addr()})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	store := tokenstore.NewRedisStore(client, tokenstore.DefaultKeyPrefix, nil)

	ctx := context.Background()
	rec, err := store.Put(ctx, tokenstore.Record{Account: "alice", RefreshToken: "rt-1", Status: tokenstore.StatusOK}, 0)
	fmt.Println(rec.Version, err)
	_, err = store.Put(ctx, rec, 0) // written by someone else meanwhile
	fmt.Println(errors.Is(err, tokenstore.ErrVersionConflict))
	// Output:
	// 1 <nil>
	// true
}

// Every replica builds the same three Redis parts into its Source.
func ExampleNewRedisLocker() {
	client, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "redis://127.0.0.1:6379/0"})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	var refresher tokenstore.Refresher // the Spotify accounts client
	prefix := tokenstore.DefaultKeyPrefix
	src := tokenstore.NewSource(tokenstore.Config{
		Store:     tokenstore.NewRedisStore(client, prefix, nil),
		Locker:    tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{TTL: 10 * time.Second}),
		Notifier:  tokenstore.NewRedisNotifier(client, prefix),
		Refresher: refresher,
	})
	src.Run()
	defer src.Close()
}

// Package redissub follows a Redis pub/sub channel the way the proxy's replicas
// need it: a dead connection is noticed and reported, never waited on for ever.
//
// Pub/sub delivers at most once: messages published while a subscriber is
// disconnected are lost. Follow therefore returns on any connection failure
// instead of reconnecting silently; the caller subscribes again and makes up for
// what it may have missed (it is told when each subscription is confirmed).
package redissub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handlers are what Follow calls, one call at a time.
type Handlers struct {
	// Subscribed is called when the server confirms the subscription (nil: nothing
	// to do); an error ends Follow with it.
	Subscribed func() error
	// Message is called with each message's payload.
	Message func(payload string)
}

// Follow subscribes to channel and calls h until ctx ends (it then returns nil) or
// the subscription breaks (it returns why). An idle subscription pings every
// pingEvery; no answer by the next pingEvery counts as broken.
func Follow(ctx context.Context, client redis.UniversalClient, channel string, pingEvery time.Duration, h Handlers) error {
	ps := client.Subscribe(ctx, channel)
	defer ps.Close()
	// Receive does not watch ctx: closing the subscription ends a blocked Receive.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	pinged := false // a ping is unanswered
	for {
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if ctx.Err() != nil {
			return nil
		}
		var ne net.Error
		switch {
		case err != nil && errors.As(err, &ne) && ne.Timeout():
			if pinged {
				return fmt.Errorf("subscription to %s: no answer to a ping for %s", channel, pingEvery)
			}
			// Idle: ping; its answer (or any message) proves the connection alive.
			if err := ps.Ping(ctx); err != nil {
				return fmt.Errorf("subscription to %s: %w", channel, err)
			}
			pinged = true
			continue
		case err != nil:
			return fmt.Errorf("subscription to %s: %w", channel, err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if h.Subscribed != nil {
				if err := h.Subscribed(); err != nil {
					return err
				}
			}
		case *redis.Message:
			if h.Message != nil {
				h.Message(m.Payload)
			}
		}
	}
}

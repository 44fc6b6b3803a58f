package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/spotify-token-proxy/spotify-token-proxy/admin"
	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/events"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// consumerName names this replica in the events consumer group: the host name (the
// pod name on Kubernetes) and the process id, unique among live replicas.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "proxy"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// openEvents sets up the account event log on the store's backend.
func openEvents(cfg *config.Config, st *stores, m *metrics.Metrics, log *slog.Logger) (*events.Log, error) {
	backend := st.events
	if backend == nil {
		fb, err := events.OpenFileBackend(events.FileFor(cfg.TokenFile), nil, 0)
		if err != nil {
			return nil, usageError{fmt.Errorf("TOKEN_FILE: %w", err)}
		}
		backend = fb
	}
	l, err := events.New(events.Options{
		Backend: backend, WebhookURL: cfg.WebhookURL, Secret: cfg.WebhookSecret, RetryFor: cfg.WebhookRetryFor,
		Lifetime: cfg.RefreshTokenLifetime, Metrics: m, Logger: log,
	})
	if err != nil {
		return nil, usageError{err}
	}
	return l, nil
}

// runEvents starts the webhook delivery and the expiry scan over src's accounts;
// stop ends both and waits for them.
func runEvents(ctx context.Context, cfg *config.Config, l *events.Log, src *tokenstore.Source) (stop func()) {
	scan := &events.ExpiryScanner{
		Log: l, Warning: cfg.ExpiryWarning, Lifetime: cfg.RefreshTokenLifetime,
		List: func(ctx context.Context, cursor string, limit int) ([]events.Account, string, error) {
			recs, next, err := src.List(ctx, cursor, limit)
			out := make([]events.Account, 0, len(recs))
			for _, r := range recs {
				if !r.ClientCredentials {
					out = append(out, events.Account{ID: r.Account, Status: string(r.Status), AuthorizedAt: r.AuthorizedAt})
				}
			}
			return out, next, err
		},
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.Run(ctx) }()
	go func() { defer wg.Done(); scan.Run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

// statusEvents turns the token source's status changes into account events
// (reauth_required, recovered).
type statusEvents struct{ log *events.Log }

func (s statusEvents) StatusChanged(ctx context.Context, c tokenstore.StatusChange) {
	s.log.OnStatusChange(ctx, events.StatusChange{
		Account: c.Account, From: string(c.From), To: string(c.To), At: c.At, AuthorizedAt: c.AuthorizedAt,
	})
}

// recentEvents shows the event log on the operator page.
type recentEvents struct{ log *events.Log }

func (r recentEvents) RecentEvents(ctx context.Context, limit int) ([]admin.EventEntry, error) {
	entries, err := r.log.Recent(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]admin.EventEntry, len(entries))
	for i, e := range entries {
		out[i] = admin.EventEntry{ID: e.ID, Type: string(e.Type), Account: e.Account, Time: e.Time, Delivery: string(e.State)}
	}
	return out, nil
}

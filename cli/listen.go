package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/events"
)

// maxWebhookBody bounds a delivery's body (an event is a few hundred bytes).
const maxWebhookBody = 64 << 10

// eventsListen: events listen [--addr A] [-o text|json]. A webhook receiver for
// trying WEBHOOK_URL out: it verifies each delivery's Standard Webhooks signature
// with WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE), prints the event and answers 204;
// a delivery that fails verification gets 401 and a line on stderr, so the proxy
// retries it.
func eventsListen(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("events listen", "[--addr=HOST:PORT] [-o text|json]", e)
	addr := fs.String("addr", "127.0.0.1:8091", "address to receive webhooks on (point WEBHOOK_URL at http://<addr>/)")
	output := fs.String("o", "text", "output: text (one line per event) or json (the event as delivered)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := oneOf("-o", *output, "text", "json"); err != nil {
		return err
	}
	secret, err := webhookSecret(e)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usagef("--addr: %v", err)
	}
	fmt.Fprintf(e.Stderr, "listening for webhooks on http://%s/ (WEBHOOK_URL); Ctrl-C stops\n", ln.Addr())
	var mu sync.Mutex // one event printed at a time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST a webhook delivery here", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err := secret.Verify(r.Header, body, e.now(), 0); err != nil {
			fmt.Fprintf(e.Stderr, "refused a delivery (%s): %v\n", dashIfEmpty(r.Header.Get(events.HeaderID)), err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev event
		if err := json.Unmarshal(body, &ev); err != nil {
			fmt.Fprintf(e.Stderr, "refused a delivery (%s): not an event: %v\n", r.Header.Get(events.HeaderID), err)
			http.Error(w, "not an event", http.StatusBadRequest)
			return
		}
		if *output == "json" {
			fmt.Fprintln(e.Stdout, compact(body))
		} else {
			fmt.Fprintf(e.Stdout, "%s  %-34s %-20s %s\n", dashIfEmpty(ev.Time), ev.Type, ev.Account, strings.TrimSpace(ev.Status+" "+ev.ID))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	})
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil // Ctrl-C ends a listen normally
}

// webhookSecret reads WEBHOOK_SECRET or WEBHOOK_SECRET_FILE, as the proxy does.
func webhookSecret(e *Env) (events.Secret, error) {
	raw, file := e.Getenv("WEBHOOK_SECRET"), e.Getenv("WEBHOOK_SECRET_FILE")
	name := "WEBHOOK_SECRET"
	switch {
	case raw != "" && file != "":
		return events.Secret{}, usagef("WEBHOOK_SECRET_FILE: set either WEBHOOK_SECRET or WEBHOOK_SECRET_FILE, not both")
	case file != "":
		name = "WEBHOOK_SECRET_FILE"
		var err error
		if raw, err = readSecretFile(name, file, e); err != nil {
			return events.Secret{}, err
		}
	case raw == "":
		return events.Secret{}, usagef("no webhook secret: set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE to the proxy's WEBHOOK_SECRET")
	}
	s, err := events.ParseSecret(raw)
	if err != nil {
		return events.Secret{}, usagef("%s: %v", name, err)
	}
	return s, nil
}

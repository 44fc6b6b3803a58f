package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// event is what events tail reads of an event; the JSON output keeps every field.
type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Account string `json:"account"`
	Time    string `json:"time"`
	Status  string `json:"status"`
}

// eventPage is the answer of GET /admin/v1/events?after=<id>.
type eventPage struct {
	Events []json.RawMessage `json:"events"`
	// Next is the id to ask after next time ("" : the id of the last event).
	Next string `json:"next"`
}

// eventsTail: events tail [--after ID] [--once] [-o text|json] [--interval D].
func eventsTail(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("events tail", "[--after=ID] [--once] [-o text|json]", e)
	conn := addConnFlags(fs.FlagSet)
	after := fs.String("after", "", "print the events after this event id (default: every event the proxy keeps)")
	once := fs.Bool("once", false, "stop when no more events are waiting, instead of following")
	output := fs.String("o", "text", "output: text (one line per event) or json (one JSON object per line)")
	interval := fs.Duration("interval", 2*time.Second, "how often to ask for new events when following")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := oneOf("-o", *output, "text", "json"); err != nil {
		return err
	}
	if *interval <= 0 {
		return usagef("events tail: --interval: must be positive")
	}
	c, err := conn.client(e)
	if err != nil {
		return err
	}
	cursor := *after
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	wait := false
	for {
		if wait {
			select {
			case <-ctx.Done():
				return nil // Ctrl-C ends a tail normally
			case <-tick.C:
			}
		}
		q := url.Values{}
		if cursor != "" {
			q.Set("after", cursor)
		}
		var page eventPage
		if err := c.do(ctx, http.MethodGet, "/admin/v1/events", q, nil, &page); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Reason == "" {
				return fmt.Errorf("%w (this proxy has no events API; it needs a newer version)", err)
			}
			return err
		}
		for _, raw := range page.Events {
			var ev event
			if err := json.Unmarshal(raw, &ev); err != nil || ev.ID == "" {
				return fmt.Errorf("GET /admin/v1/events: unexpected event %s", compact(raw))
			}
			if *output == "json" {
				fmt.Fprintln(e.Stdout, compact(raw))
			} else {
				fmt.Fprintf(e.Stdout, "%s  %-34s %-20s %s\n", dashIfEmpty(ev.Time), ev.Type, ev.Account, strings.TrimSpace(ev.Status+" "+ev.ID))
			}
			cursor = ev.ID
		}
		if page.Next != "" {
			cursor = page.Next
		}
		// After events, more may be waiting: ask again at once.
		wait = len(page.Events) == 0
		if wait && *once {
			return nil
		}
	}
}

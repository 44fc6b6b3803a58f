package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultAttemptTimeout bounds one webhook attempt (connect to end of answer).
const DefaultAttemptTimeout = 10 * time.Second

// webhook posts signed events to one URL.
type webhook struct {
	url     string
	host    string // for logs: the URL's path and query may carry a secret
	secret  Secret
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

func newWebhook(u *url.URL, secret Secret, client *http.Client, timeout time.Duration, now func() time.Time) *webhook {
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	// A redirect is a failed attempt: following it would send the signed event to
	// a URL nobody configured.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &webhook{url: u.String(), host: u.Host, secret: secret, client: &c, timeout: timeout, now: now}
}

// statusError is a delivery answered with a non-2xx status.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("the webhook answered %d", e.code) }

// send makes one attempt; nil means a 2xx answer.
func (w *webhook) send(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "spotify-token-proxy-webhook")
	w.secret.setHeaders(req.Header, e.ID, w.now(), body)
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL; keep only what happened.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Errorf("POST to %s: %w", w.host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{code: resp.StatusCode}
	}
	return nil
}

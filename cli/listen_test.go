package cli

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/events"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/syncbuf"
)

func TestEventsListenVerifiesAndPrints(t *testing.T) {
	const secretText = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secret, _ := events.ParseSecret(secretText)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	out, errb := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"events", "listen", "--addr", "127.0.0.1:0"}, Env{
			Stdout: out, Stderr: errb, Now: func() time.Time { return now },
			Getenv: func(k string) string { return map[string]string{"WEBHOOK_SECRET": secretText}[k] },
		})
	}()
	base := waitFor(t, errb, regexp.MustCompile(`listening for webhooks on (http://\S+/)`))[1]

	post := func(body, id string, sign events.Secret, at time.Time) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(body))
		req.Header.Set(events.HeaderID, id)
		req.Header.Set(events.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		req.Header.Set(events.HeaderSignature, sign.Sign(id, at, []byte(body)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	ev := `{"id":"1764583200000-0","type":"account.reauth_required","account":"alice","time":"2026-12-01T10:00:00Z","status":"reauth_required"}`
	if code := post(ev, "1764583200000-0", secret, now); code != http.StatusNoContent {
		t.Fatalf("signed delivery: %d, want 204", code)
	}
	waitFor(t, out, regexp.MustCompile(`2026-12-01T10:00:00Z\s+account\.reauth_required\s+alice\s+reauth_required 1764583200000-0`))

	other, _ := events.ParseSecret("whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
	if code := post(ev, "msg-forged", other, now); code != http.StatusUnauthorized {
		t.Fatalf("delivery signed with another key: %d, want 401", code)
	}
	waitFor(t, errb, regexp.MustCompile(`refused a delivery \(msg-forged\): events: no webhook-signature matches`))
	if code := post(ev, "msg-old", secret, now.Add(-time.Hour)); code != http.StatusUnauthorized {
		t.Fatalf("replayed delivery: %d, want 401", code)
	}
	if res, err := http.Get(base); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", res, err)
	}
	if strings.Count(out.String(), "\n") != 1 || strings.Contains(errb.String(), "MfKQ9r8") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errb)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Ctrl-C: exit %d, want 0; stderr: %s", code, errb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events listen did not stop after its context ended")
	}
}

// waitFor returns the first match of re in b, failing the test after 10s.
func waitFor(t *testing.T, b *syncbuf.Buffer, re *regexp.Regexp) []string {
	t.Helper()
	m := b.WaitFor(re, 10*time.Second)
	if m == nil {
		t.Fatalf("no %s within 10s in:\n%s", re, b)
	}
	return m
}

func TestEventsListenNeedsTheSecret(t *testing.T) {
	runCLI(t, nil, nil, "", "events", "listen").want(t, 2, "", "set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE")
	runCLI(t, nil, map[string]string{"WEBHOOK_SECRET": "whsec_short"}, "", "events", "listen").want(t, 2, "", "WEBHOOK_SECRET: ")
	r := runCLI(t, nil, map[string]string{"WEBHOOK_SECRET_FILE": "/nonexistent/secret"}, "", "events", "listen")
	r.want(t, 2, "", "WEBHOOK_SECRET_FILE: cannot read /nonexistent/secret")
}

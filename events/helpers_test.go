package events

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/syncbuf"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// testSecret is the Standard Webhooks specification's example secret.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verify checks a delivery as a receiver following the Standard Webhooks
// specification does: the signed content is id.timestamp.body, and any of the
// space-separated v1 signatures may match.
func verify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return false
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	want := Secret{key: key}.Sign(id, mustUnix(ts), body)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func mustUnix(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(n, 0)
}

// delivery is one request the receiver got.
type delivery struct {
	id, timestamp string
	body          []byte
	ev            Event
	valid         bool
	at            time.Time // real time of arrival
}

// receiver is a webhook endpoint. answer picks the status of each request (nil:
// 200); a negative status hangs until the request is cancelled.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret string

	mu     sync.Mutex
	got    []delivery
	answer func(n int, d delivery) int
	notify chan delivery
}

func newReceiver(t testing.TB, answer func(n int, d delivery) int) *receiver {
	r := &receiver{t: t, secret: testSecret, answer: answer, notify: make(chan delivery, 100000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	d := delivery{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"), body: body, at: time.Now()}
	d.valid = verify(r.secret, req.Header, body)
	if err := d.ev.UnmarshalJSON(body); err != nil {
		r.t.Errorf("receiver: body %q: %v", body, err)
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	n := len(r.got)
	answer := r.answer
	r.mu.Unlock()
	status := http.StatusOK
	if answer != nil {
		status = answer(n, d)
	}
	if status < 0 {
		<-req.Context().Done()
		return
	}
	w.WriteHeader(status)
	if status/100 == 2 {
		r.notify <- d
	}
}

func (r *receiver) url() *url.URL {
	u, _ := url.Parse(r.srv.URL + "/hook?token=in-the-url")
	return u
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func (r *receiver) setAnswer(fn func(n int, d delivery) int) {
	r.mu.Lock()
	r.answer = fn
	r.mu.Unlock()
}

// fixture is a Log on a backend with a manual clock and its own metrics.
type fixture struct {
	log   *Log
	clock *testclock.Clock
	m     *metrics.Metrics
	logs  *syncbuf.Buffer
}

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func newFixture(t testing.TB, b Backend, clock *testclock.Clock, opts Options) *fixture {
	t.Helper()
	f := &fixture{clock: clock, m: metrics.New(prometheus.NewRegistry()), logs: &syncbuf.Buffer{}}
	if f.clock == nil {
		f.clock = testclock.New(t0)
	}
	opts.Backend = b
	opts.Metrics = f.m
	opts.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	opts.Now = f.clock.Now
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0 }
	}
	if opts.WebhookURL != nil && opts.Secret.IsZero() {
		s, err := ParseSecret(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		opts.Secret = s
	}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.d != nil {
		if err := b.startDelivery(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f.log = l
	return f
}

func (f *fixture) step(t testing.TB) time.Time {
	t.Helper()
	next, err := f.log.d.step(context.Background())
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return next
}

func (f *fixture) deliveries(result string) float64 {
	return testutil.ToFloat64(f.m.WebhookDeliveries.WithLabelValues(result))
}

func openFile(t testing.TB, path string, clock *testclock.Clock) *FileBackend {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	b, err := OpenFileBackend(path, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tempEventsFile(t testing.TB) string {
	return filepath.Join(t.TempDir(), "tokens.events.json")
}

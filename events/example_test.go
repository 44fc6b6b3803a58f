package events_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/events"
)

// verify is the receiver's check from the README, verbatim.
func verify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || math.Abs(float64(time.Now().Unix()-ts)) > 300 {
		return false // too old or in the future: a replay
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", h.Get("webhook-id"), ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// A receiver checks each delivery with the README's verify function.
func Example_receiver() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !verify(secret, r.Header, body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		got <- string(body[strings.Index(string(body), `"type"`):strings.Index(string(body), `,"time"`)])
	}))
	defer srv.Close()

	dir, _ := os.MkdirTemp("", "events-example")
	defer os.RemoveAll(dir)
	backend, _ := events.OpenFileBackend(filepath.Join(dir, "tokens.events.json"), nil, 0)
	u, _ := url.Parse(srv.URL)
	s, _ := events.ParseSecret(secret)
	log, _ := events.New(events.Options{Backend: backend, WebhookURL: u, Secret: s})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { log.Run(ctx); close(done) }()
	log.Linked(context.Background(), "alice", time.Now())
	fmt.Println(<-got)
	cancel()
	<-done
	// Output: "type":"account.linked","account":"alice"
}

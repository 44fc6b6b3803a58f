package events

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a delivery's webhook-timestamp may be from the
// receiver's clock, as the Standard Webhooks reference libraries allow.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify. They never quote a signature or the key.
var (
	ErrMissingHeaders = errors.New("events: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrTimestamp      = errors.New("events: webhook-timestamp is not a time within the tolerance")
	ErrSignature      = errors.New("events: no webhook-signature matches")
)

// Verify checks a delivery the way a receiving app does: the three Standard
// Webhooks headers are present, the timestamp is within tolerance of now (0:
// DefaultTolerance), and one of the space-separated "v1,<base64>" signatures is
// the HMAC of id, timestamp and body under s. It compares in constant time.
func (s Secret) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	at := time.Unix(sec, 0)
	if at.Before(now.Add(-tolerance)) || at.After(now.Add(tolerance)) {
		return fmt.Errorf("%w (%s, %s from now)", ErrTimestamp, at.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second))
	}
	want := []byte(s.Sign(id, at, body))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrSignature
}

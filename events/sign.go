package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a Standard Webhooks delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret: whsec_<base64 of the key>.
const secretPrefix = "whsec_"

// Secret is a webhook signing key. Its String never shows the key.
type Secret struct{ key []byte }

// ParseSecret reads a Standard Webhooks secret: "whsec_" followed by the base64 of
// 24 to 64 random bytes (the prefix is optional, as in the reference libraries).
// The error never quotes the secret.
func ParseSecret(s string) (Secret, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), secretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Secret{}, errors.New("must be whsec_ followed by base64 (e.g. whsec_$(openssl rand -base64 32))")
	}
	if len(key) < 24 || len(key) > 64 {
		return Secret{}, errors.New("the key must be 24 to 64 bytes (e.g. whsec_$(openssl rand -base64 32))")
	}
	return Secret{key: key}, nil
}

// String redacts the key.
func (Secret) String() string { return "whsec_REDACTED" }

// IsZero reports whether no key is set.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// Sign returns the webhook-signature value of one attempt:
// "v1," + base64(HMAC-SHA256(key, id + "." + unix seconds + "." + body)).
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// setHeaders sets the three Standard Webhooks headers of an attempt at ts.
func (s Secret) setHeaders(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}

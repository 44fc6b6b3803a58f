package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Limits of a delivery (PUT /admin/v1/accounts/{id}/token).
const (
	// MaxDeliveryBody is the largest accepted body; larger ones get 413.
	MaxDeliveryBody = 64 << 10
	// maxExpiresIn bounds expires_in (Spotify's access tokens live one hour).
	maxExpiresIn = 366 * 24 * 3600
	// futureSkew: obtained_at and authorized_at may be this far ahead of our clock.
	// A time further in the future would make every later delivery "stale".
	futureSkew = 5 * time.Minute
)

// deliveryBody is the JSON body of a delivery. Times are kept raw so that each
// field's error message can name it; see parseTime for the accepted forms.
type deliveryBody struct {
	RefreshToken string          `json:"refresh_token"`
	AccessToken  string          `json:"access_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	ExpiresAt    json.RawMessage `json:"expires_at"`
	Scope        string          `json:"scope"`
	ObtainedAt   json.RawMessage `json:"obtained_at"`
	AuthorizedAt json.RawMessage `json:"authorized_at"`
}

// badRequest is a client error whose message is safe to send back: it names fields
// and never quotes a value.
type badRequest struct {
	status int // 400 or 413
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func invalid(format string, args ...any) *badRequest {
	return &badRequest{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeDelivery reads one delivery from body (already limited by the caller) and
// checks it. now computes the expiry from expires_in and bounds future times.
// Errors are *badRequest.
//
// Accepted body:
//
//	{"refresh_token": "…",                   required, printable ASCII
//	 "access_token": "…",                    optional; needs expires_in or expires_at
//	 "expires_in": 3600,                      seconds from now, integer ≥ 0
//	 "expires_at": "2026-11-25T13:00:00Z",    or unix seconds (1795611600); not with expires_in
//	 "scope": "user-read-private …",
//	 "obtained_at": …, "authorized_at": …}    RFC 3339 or unix seconds; at most 5 min ahead
//
// Unknown fields, trailing data and null for refresh_token are refused. Field names
// are matched as encoding/json does (case-insensitively).
func decodeDelivery(body io.Reader, now time.Time) (tokenstore.Delivery, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var b deliveryBody
	if err := dec.Decode(&b); err != nil {
		return tokenstore.Delivery{}, decodeError(err)
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		if err != nil && !isSyntaxError(err) {
			return tokenstore.Delivery{}, decodeError(err)
		}
		return tokenstore.Delivery{}, invalid("the body must hold a single JSON object (trailing data after it)")
	}

	d := tokenstore.Delivery{RefreshToken: b.RefreshToken, AccessToken: b.AccessToken, Scope: b.Scope}
	switch {
	case b.RefreshToken == "":
		return d, invalid("refresh_token is required")
	case !tokenChars(b.RefreshToken):
		return d, invalid("refresh_token must be printable ASCII without spaces")
	case !tokenChars(b.AccessToken) && b.AccessToken != "":
		return d, invalid("access_token must be printable ASCII without spaces")
	case !scopeChars(b.Scope):
		return d, invalid("scope must be printable ASCII words separated by spaces")
	}
	hasIn, hasAt := present(b.ExpiresIn), present(b.ExpiresAt)
	switch {
	case hasIn && hasAt:
		return d, invalid("give expires_in or expires_at, not both")
	case hasIn:
		secs, ok := parseSeconds(b.ExpiresIn)
		if !ok || secs < 0 || secs > maxExpiresIn {
			return d, invalid("expires_in must be an integer number of seconds between 0 and %d", maxExpiresIn)
		}
		d.Expiry = now.Add(time.Duration(secs) * time.Second)
	case hasAt:
		t, ok := parseTime(b.ExpiresAt)
		if !ok {
			return d, invalid("expires_at must be an RFC 3339 time or unix seconds")
		}
		d.Expiry = t
	}
	switch {
	case d.AccessToken != "" && d.Expiry.IsZero():
		return d, invalid("access_token needs expires_in or expires_at")
	case d.AccessToken == "" && !d.Expiry.IsZero():
		if hasIn {
			return d, invalid("expires_in is only meaningful with access_token")
		}
		return d, invalid("expires_at is only meaningful with access_token")
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *time.Time
	}{{"obtained_at", b.ObtainedAt, &d.ObtainedAt}, {"authorized_at", b.AuthorizedAt, &d.AuthorizedAt}} {
		if !present(f.raw) {
			continue
		}
		t, ok := parseTime(f.raw)
		if !ok {
			return d, invalid("%s must be an RFC 3339 time or unix seconds", f.name)
		}
		if t.After(now.Add(futureSkew)) {
			return d, invalid("%s is in the future", f.name)
		}
		*f.dst = t
	}
	return d, nil
}

// decodeError turns a json error into a message that names the problem without
// quoting the body.
func decodeError(err error) *badRequest {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &badRequest{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("the body is larger than %d bytes", mbe.Limit)}
	case errors.Is(err, io.EOF):
		return invalid("the body is empty; a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("malformed JSON: the body ends early")
	case errors.As(err, &se):
		return invalid("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return invalid("the body must be a JSON object")
		}
		return invalid("%s must be a %s", te.Field, te.Type.String())
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil && len(n) <= 64 {
			return invalid("unknown field %q", n)
		}
		return invalid("unknown field")
	}
	return invalid("malformed JSON")
}

func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
}

// present reports whether an optional field was given (absent and null are not).
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// parseSeconds reads a JSON integer.
func parseSeconds(raw json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// parseTime reads a time given as an RFC 3339 string or as positive unix seconds.
func parseTime(raw json.RawMessage) (time.Time, bool) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil && t.Year() > 1970 && t.Year() < 10000
	}
	n, ok := parseSeconds(raw)
	if !ok || n <= 0 || n > 253402300799 { // 9999-12-31T23:59:59Z
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// tokenChars: visible ASCII, no spaces (tokens go into headers and form bodies).
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// scopeChars: RFC 6749 scope tokens (visible ASCII but '"' and '\') separated by spaces.
func scopeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') && c != ' ' {
			return false
		}
	}
	return len(s) <= 4096
}

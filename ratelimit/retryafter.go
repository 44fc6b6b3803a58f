package ratelimit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultRetryAfter is the block length of a 429 whose Retry-After is missing or
// cannot be read.
const DefaultRetryAfter = time.Second

// maxRetryAfter caps a block, so a garbled header cannot hold the app for ever.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: whole seconds, or an HTTP date
// (relative to now). Missing, negative or unparsable values give
// DefaultRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultRetryAfter
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return DefaultRetryAfter
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return DefaultRetryAfter
}

// ReasonFromBody returns the "reason" of a Spotify error body
// ({"error":{"status":429,"message":"…","reason":"QUOTA_EXCEEDED"}}), or "" when
// body is not one or names no reason. Only upper-case reasons of letters and
// underscores are taken, so a body cannot put anything else into a header.
func ReasonFromBody(body []byte) string {
	if !bytes.Contains(body, []byte(`"reason"`)) {
		return ""
	}
	var doc struct {
		Error struct {
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil || !validReason(doc.Error.Reason) {
		return ""
	}
	return doc.Error.Reason
}

func validReason(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

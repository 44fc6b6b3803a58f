package apierror

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Answer is one error answer.
type Answer struct {
	Status  int
	Reason  string
	Message string
	// RetryAfter, when positive, is sent as Retry-After.
	RetryAfter time.Duration
}

// Write sends a.
func (a Answer) Write(w http.ResponseWriter) {
	Write(w, a.Status, a.Reason, a.Message, a.RetryAfter)
}

// Write sends an error in the Web API's shape,
// {"error":{"status":N,"message":"…","reason":"…"}}, with Retry-After when
// retryAfter is positive.
func Write(w http.ResponseWriter, status int, reason, message string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"status":%d,"message":%s,"reason":%s}}`+"\n", status, strconv.Quote(message), strconv.Quote(reason))
}

package spotifyemu

import (
	"net/http"
	"strconv"
	"time"
)

// serveStream writes ?bytes=N bytes (byte i is byte(i%251)) in chunks of
// ?chunk= bytes (default 16 KiB), flushing each, optionally pausing ?delay=
// between chunks, without a Content-Length.
func (e *Emulator) serveStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := strconv.ParseInt(q.Get("bytes"), 10, 64)
	if err != nil || n < 0 {
		writeAPIError(w, http.StatusBadRequest, "bytes must be a non-negative integer")
		return
	}
	chunk := int64(streamChunk)
	if s := q.Get("chunk"); s != "" {
		if chunk, err = strconv.ParseInt(s, 10, 64); err != nil || chunk <= 0 || chunk > 1<<20 {
			writeAPIError(w, http.StatusBadRequest, "chunk must be between 1 and 1048576")
			return
		}
	}
	var delay time.Duration
	if s := q.Get("delay"); s != "" {
		if delay, err = time.ParseDuration(s); err != nil || delay < 0 {
			writeAPIError(w, http.StatusBadRequest, "delay must be a duration")
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	buf := make([]byte, chunk)
	for off := int64(0); off < n; off += chunk {
		if off > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		b := buf[:min(chunk, n-off)]
		for i := range b {
			b[i] = StreamByte(off + int64(i))
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// StreamByte is byte i of the /v1/_emulator/stream answer.
func StreamByte(i int64) byte { return byte(i % 251) }

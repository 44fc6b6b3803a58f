package spotifyemu

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

func writeAPIError(w http.ResponseWriter, status int, msg string) {
	writeAPIJSON(w, status, apiError{Error: apiErrorBody{Status: status, Message: msg}})
}

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are marshalled here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// gzipMinLength is the smallest JSON answer that is gzip-encoded when the
// caller accepts it: compressing a few hundred bytes saves nothing, and it
// keeps the small answers that load tests make by the thousand (GET /v1/me,
// errors) as cheap as before.
const gzipMinLength = 1024

// writeJSON writes v as JSON, gzip-encoded when the caller sends
// Accept-Encoding: gzip and the answer is at least gzipMinLength bytes.
func (e *Emulator) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil { // only plain structs are encoded here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	e.sendJSON(w, r, status, b, "")
}

// writeJSONWithETag writes v as a 200 JSON answer with an ETag, or 304 Not
// Modified without a body when If-None-Match names that ETag, as Spotify
// does for playlists.
func (e *Emulator) writeJSONWithETag(w http.ResponseWriter, r *http.Request, v any) {
	b, err := encodeJSON(v)
	if err != nil { // only plain structs are encoded here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(b)
	tag := `"` + hex.EncodeToString(sum[:16]) + `"`
	if etagMatches(r.Header.Get("If-None-Match"), tag) {
		if gzipFor(r, len(b)) {
			tag = "W/" + tag // the ETag the 200 would carry
		}
		h := w.Header()
		h.Set("ETag", tag)
		h.Set("Cache-Control", "private, max-age=0")
		h.Add("Vary", "Accept-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	e.sendJSON(w, r, http.StatusOK, b, tag)
}

// encodeJSON encodes v with URLs keeping their literal "&", as in Spotify's
// answers (encoding/json.Marshal writes \u0026).
func encodeJSON(v any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// sendJSON writes the JSON answer b, gzip-encoded when the caller accepts it
// and b is at least gzipMinLength bytes; etag, when not empty, is sent as a
// weak ETag with the gzip encoding, as most servers do.
func (e *Emulator) sendJSON(w http.ResponseWriter, r *http.Request, status int, b []byte, etag string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "private, max-age=0")
	h.Add("Vary", "Accept-Encoding")
	if gzipFor(r, len(b)) {
		b = e.gzipBytes(b)
		h.Set("Content-Encoding", "gzip")
		if etag != "" {
			etag = "W/" + etag
		}
	}
	if etag != "" {
		h.Set("ETag", etag)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// etagMatches is If-None-Match's weak comparison of the header value with
// tag: "*" or any listed tag, with or without W/.
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// gzipFor reports whether an answer of n bytes to r is gzip-encoded.
func gzipFor(r *http.Request, n int) bool {
	return n >= gzipMinLength && acceptsGzip(r.Header.Values("Accept-Encoding"))
}

func (e *Emulator) gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := e.gzipWriters.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the level is valid: no error
	} else {
		zw.Reset(&buf)
	}
	_, _ = zw.Write(b) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	e.gzipWriters.Put(zw)
	return buf.Bytes()
}

// acceptsGzip reports whether Accept-Encoding values accept gzip: "gzip"
// or "*" with no q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, coding := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(coding, ";")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "gzip") && name != "*" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

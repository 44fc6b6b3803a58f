package spotifyemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
)

// bodyInfo is what was read of a request body: all of it hashed and
// counted, at most keep bytes of it kept.
type bodyInfo struct {
	data   []byte
	length int64
	sha256 string
}

// emptySHA256 is the SHA-256 of no bytes, the common case of GET requests.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// readBody hashes and counts the whole body, keeping at most keep bytes.
// Bodyless requests (most Web API calls) cost nothing.
func (e *Emulator) readBody(r *http.Request, keep int64) (bodyInfo, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return bodyInfo{sha256: emptySHA256}, nil
	}
	h := sha256.New()
	kw := &keepWriter{h: h, keep: keep}
	buf, _ := e.copyBufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, 32<<10)
		buf = &b
	}
	n, err := io.CopyBuffer(kw, r.Body, *buf)
	e.copyBufs.Put(buf)
	if err != nil {
		return bodyInfo{}, fmt.Errorf("spotifyemu: reading request body: %w", err)
	}
	return bodyInfo{data: kw.buf, length: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

type keepWriter struct {
	h    hash.Hash
	buf  []byte
	keep int64
}

func (k *keepWriter) Write(p []byte) (int, error) {
	k.h.Write(p)
	if room := k.keep - int64(len(k.buf)); room > 0 {
		k.buf = append(k.buf, p[:min(int64(len(p)), room)]...)
	}
	return len(p), nil
}

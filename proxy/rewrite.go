package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// urlRewriter rewrites the upstream origin's /v1/ URLs in JSON answers and Location
// headers so that they point at the proxy. Its patterns are built once, in New.
type urlRewriter struct {
	pat, escPat finder // origin+"/v1/", and the same with JSON-escaped slashes
	keep        int    // bytes held back between reads: len(longest pattern)-1
	// repl, escRepl: PublicURL+"/v1/" (both forms); nil when the base is "http://"+Host.
	repl, escRepl []byte
	patStr        string // pat, for Location headers
	replStr       string // repl as a string; "" when it depends on the Host
	states        sync.Pool
}

// defaultScheme prefixes the request's Host when no PublicURL is configured.
const defaultScheme = "http://"

func newURLRewriter(upstream, public *url.URL) *urlRewriter {
	pat := origin(upstream) + "/v1/"
	esc := strings.ReplaceAll(pat, "/", `\/`)
	r := &urlRewriter{patStr: pat, keep: len(esc) - 1,
		pat: newFinder(pat, "v1/"), escPat: newFinder(esc, `\/v1\/`)}
	if public != nil {
		base := origin(public)
		r.replStr = base + "/v1/"
		r.repl, r.escRepl = []byte(r.replStr), []byte(strings.ReplaceAll(r.replStr, "/", `\/`))
	}
	r.states.New = func() any { return new(rewriteState) }
	return r
}

// origin is scheme://host[:port][/path] of u in the form Spotify writes it: lower case,
// without a default port or trailing slash.
func origin(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "https" && strings.HasSuffix(host, ":443")) || (scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
}

// response rewrites resp's Location header and, for a JSON body that is plain or
// gzip-encoded, wraps the body. host is the caller's Host (for the default base).
// Nothing is allocated unless something is rewritten or a body is wrapped.
func (r *urlRewriter) response(resp *http.Response, host string) {
	if r.replStr == "" && host == "" {
		return // no base to point at
	}
	if loc := resp.Header["Location"]; len(loc) == 1 && strings.Contains(loc[0], r.patStr) {
		repl := r.replStr
		if repl == "" {
			repl = defaultScheme + host + "/v1/"
		}
		resp.Header["Location"] = []string{strings.ReplaceAll(loc[0], r.patStr, repl)}
	}
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusPartialContent ||
		!isJSON(resp.Header["Content-Type"]) {
		return
	}
	gz := false
	switch ce := resp.Header["Content-Encoding"]; {
	case len(ce) == 0 || (len(ce) == 1 && (ce[0] == "" || strings.EqualFold(ce[0], "identity"))):
	case len(ce) == 1 && (strings.EqualFold(ce[0], "gzip") || strings.EqualFold(ce[0], "x-gzip")):
		gz = true
	default:
		return // br, deflate, a list of codings: cannot decode, pass untouched
	}
	st := r.states.Get().(*rewriteState)
	st.repl = st.repl[:0]
	repl, escRepl := r.repl, r.escRepl
	if repl == nil {
		// Both replacements in one reused buffer: "http://host/v1/http:\/\/host\/v1\/".
		st.repl = append(append(append(st.repl, defaultScheme...), host...), "/v1/"...)
		n := len(st.repl)
		st.repl = append(append(append(st.repl, `http:\/\/`...), host...), `\/v1\/`...)
		repl, escRepl = st.repl[:n], st.repl[n:]
	}
	b := &rewriteBody{r: r, st: st, body: resp.Body, src: resp.Body, gz: gz, repl: repl, escRepl: escRepl}
	resp.Body = b
	// The length changes; an unknown length is sent chunked (HTTP/1.1) or as DATA
	// frames up to END_STREAM (HTTP/2).
	resp.ContentLength = -1
	delete(resp.Header, "Content-Length")
	if gz {
		delete(resp.Header, "Content-Encoding")
	}
}

// isJSON reports whether the Content-Type is application/json or a +json type.
func isJSON(ct []string) bool {
	if len(ct) != 1 {
		return false
	}
	t := ct[0]
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	t = strings.TrimSpace(t)
	const js, suffix = "application/json", "+json"
	return strings.EqualFold(t, js) ||
		(len(t) > len(suffix) && strings.EqualFold(t[len(t)-len(suffix):], suffix))
}

// rewriteState is the reusable part of a rewritten body: buffers and, for gzip
// answers, the decoder.
type rewriteState struct {
	buf  [copyBufferSize]byte // input: the carry-over, then what was read
	out  []byte               // output of a chunk that had matches
	repl []byte               // per-request replacements (base from the Host)
	br   *bufio.Reader
	zr   *gzip.Reader
}

// rewriteBody streams a body through the replacement. Between reads it holds back
// r.keep bytes (a possible start of a pattern), so a URL split across reads is found.
type rewriteBody struct {
	r             *urlRewriter
	st            *rewriteState
	body          io.ReadCloser // the upstream body, closed by Close
	src           io.Reader     // what is read: body, or a gzip reader over it
	gz            bool          // src is still body; the gzip reader starts on the first Read
	repl, escRepl []byte
	n             int    // st.buf[:n] holds input
	next          int    // st.buf[next:n] is not yet processed (the carry-over)
	pending       []byte // output not yet handed to the caller
	err           error  // the source's error (io.EOF at the end), returned once pending is empty
	closed        bool
}

func (b *rewriteBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	for empty := 0; len(b.pending) == 0; {
		if b.err != nil {
			return 0, b.err
		}
		if b.fill() {
			empty = 0
		} else if empty++; empty == 100 {
			return 0, io.ErrNoProgress // as bufio: a source returning 0, nil forever
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

// fill reads once from the source and processes what can be decided. It reports
// whether the read returned bytes or an error.
func (b *rewriteBody) fill() bool {
	st := b.st
	if b.gz {
		b.gz = false
		if st.br == nil {
			st.br = bufio.NewReader(b.body)
		} else {
			st.br.Reset(b.body)
		}
		var err error
		if st.zr == nil {
			st.zr, err = gzip.NewReader(st.br)
		} else {
			err = st.zr.Reset(st.br)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
			return true
		}
		b.src = st.zr
	}
	b.n = copy(st.buf[:], st.buf[b.next:b.n])
	b.next = 0
	m, err := b.src.Read(st.buf[b.n:])
	b.n += m
	if err != nil {
		b.err = err
	}
	b.process(err != nil)
	return m > 0 || err != nil
}

// process turns st.buf[next:n] into pending output, leaving the last keep bytes for
// the next round unless the input has ended. Each pattern has its own finder, so a
// chunk without a match costs two scans and is handed out without a copy.
func (b *rewriteBody) process(end bool) {
	in := b.st.buf[:b.n]
	limit := b.n - b.r.keep // a pattern starting before limit lies wholly in in
	if end {
		limit = b.n
	}
	last := b.next // in[last:] is not yet in the output
	out := b.st.out[:0]
	matched := false
	i1, i2 := b.r.pat.next(in, last), b.r.escPat.next(in, last)
	for {
		// The leftmost match (the patterns differ at the same position).
		pos, pat, repl := i1, b.r.pat.pat, b.repl
		if i2 >= 0 && (i1 < 0 || i2 < i1) {
			pos, pat, repl = i2, b.r.escPat.pat, b.escRepl
		}
		if pos < 0 || pos >= limit {
			break // a start at or past limit is decided next round
		}
		out = append(append(out, in[last:pos]...), repl...)
		matched = true
		last = pos + len(pat)
		if i1 >= 0 && i1 < last {
			i1 = b.r.pat.next(in, last)
		}
		if i2 >= 0 && i2 < last {
			i2 = b.r.escPat.next(in, last)
		}
	}
	stop := max(limit, last)
	if matched {
		out = append(out, in[last:stop]...)
		b.st.out = out
		b.pending = out
	} else {
		b.pending = in[last:stop]
	}
	b.next = stop
}

// finder looks for pat through its anchor, a part of it that starts with a byte rare
// in Spotify's JSON (the 'v' of "v1/", the backslash of the escaped form): bytes.Index
// then skips through the body with a vectorised IndexByte and stops rarely. The
// scheme's 'h' or ':', or the '/' of every URL, would stop it several times per URL.
type finder struct {
	pat, anchor []byte
	off         int // anchor's position in pat
}

func newFinder(pat, anchor string) finder {
	return finder{pat: []byte(pat), anchor: []byte(anchor), off: strings.LastIndex(pat, anchor)}
}

// next is the position of the first pat in in[from:], counted from the start of in,
// or -1.
func (f *finder) next(in []byte, from int) int {
	for i := from + f.off; i <= len(in); {
		j := bytes.Index(in[i:], f.anchor)
		if j < 0 {
			return -1
		}
		if s := i + j - f.off; bytes.HasPrefix(in[s:], f.pat) {
			return s
		}
		i += j + 1
	}
	return -1
}

func (b *rewriteBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.body.Close()
	st := b.st
	b.st, b.pending, b.src = nil, nil, nil
	if st.br != nil {
		st.br.Reset(nil) // drop the body; the decoder keeps only st.br
	}
	if cap(st.out) > 4*copyBufferSize {
		st.out = nil // a body that grew it a lot
	}
	b.r.states.Put(st)
	return err
}

// Command bareproxy is the benchmarks' floor: a bare httputil.ReverseProxy that sets a
// static bearer token. By default it is the stock proxy (default transport, no buffer
// pool); -tuned gives it the same upstream pool size and pooled copy buffer as
// spotify-token-proxy, so what is left between the two is the token proxy's own work.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream base URL")
	tuned := flag.Bool("tuned", false, "size the upstream connection pool and pool the copy buffers")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		fmt.Fprintln(os.Stderr, "bareproxy: -upstream must be an absolute URL")
		os.Exit(2)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Header.Set("Authorization", "Bearer static-token")
	}}
	if *tuned {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 512
		rp.Transport = t
		rp.BufferPool = &buffers{}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on http://" + ln.Addr().String())
	fmt.Fprintln(os.Stderr, http.Serve(ln, rp))
	os.Exit(1)
}

// buffers pools 32 KiB arrays by pointer, so neither Get nor Put allocates.
type buffers struct{ p sync.Pool }

func (b *buffers) Get() []byte {
	if a, ok := b.p.Get().(*[32 << 10]byte); ok {
		return a[:]
	}
	return new([32 << 10]byte)[:]
}

func (b *buffers) Put(s []byte) {
	if cap(s) == 32<<10 {
		b.p.Put((*[32 << 10]byte)(s[:32<<10]))
	}
}

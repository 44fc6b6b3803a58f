// Command bareproxy is the benchmarks' floor: a bare httputil.ReverseProxy that sets a
// static bearer token. By default it is the stock proxy (default transport, no buffer
// pool); -tuned gives it spotify-token-proxy's transport and pooled copy buffers, so
// what is left between the two is the token proxy's own work.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream base URL")
	tuned := flag.Bool("tuned", false, "use spotify-token-proxy's transport and copy-buffer pool")
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
		rp.Transport = proxy.NewTransport(30 * time.Second)
		rp.BufferPool = proxy.NewBufferPool()
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

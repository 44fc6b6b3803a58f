// Command upstream is the benchmarks' stand-in for the Spotify Web API: as fast as
// possible, it answers every request with a small JSON body and refuses requests
// without a bearer token.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

const body = `{"id":"user-1","display_name":"Benchmark User","type":"user","uri":"spotify:user:user-1","product":"premium"}`

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on http://" + ln.Addr().String())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(401)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write([]byte(body))
	})
	fmt.Fprintln(os.Stderr, http.Serve(ln, h))
	os.Exit(1)
}

package proxy

import (
	"net/url"
	"testing"
)

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":         "localhost",
		"localhost:8080":    "localhost",
		"LOCALHOST.:80":     "LOCALHOST",
		"127.0.0.1:8080":    "127.0.0.1",
		"[::1]:8080":        "::1",
		"[::1]":             "::1",
		"[::1":              "[::1",
		"[::1]x":            "[::1]x",
		"::1":               "::1",
		"":                  "",
		"proxy.example:443": "proxy.example",
	} {
		if got := hostName(in); got != want {
			t.Errorf("hostName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The Host check runs on every request: it must not allocate.
func TestHostCheckDoesNotAllocate(t *testing.T) {
	u, _ := url.Parse("http://upstream")
	p, err := New(Config{Upstream: u, Tokens: nopTokens{}, AllowedHosts: []string{"localhost", "127.0.0.1", "::1", "Proxy.Example"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1:8080", "[::1]:8080", "proxy.example", "evil.example:8080"} {
		if n := testing.AllocsPerRun(100, func() { p.hostAllowed(host) }); n != 0 {
			t.Errorf("%q: %v allocations", host, n)
		}
	}
	if !p.hostAllowed("PROXY.example:1") || p.hostAllowed("evil.example") {
		t.Fatal("AllowedHosts not compared without case")
	}
}

type nopTokens struct{ TokenSource }

// Package freeport picks loopback ports for test servers that may be restarted on
// the same port. Ports come from 20000–29999, below Linux's ephemeral range
// (32768–60999 by default), so the many outgoing connections of a load test cannot
// take a port between a server's stop and its restart, or between the pick and the
// bind.
package freeport

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Port returns a port that is free now.
func Port(t testing.TB) int {
	t.Helper()
	for range 500 {
		p := 20000 + rand.IntN(10000)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("freeport: no free port in 20000-29999")
	return 0
}

// Addr returns 127.0.0.1:port with a free port.
func Addr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(Port(t))
}

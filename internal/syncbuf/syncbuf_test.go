package syncbuf

import (
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
			}
		})
	}
	go func() {
		wg.Wait()
		b.Write([]byte(" ready on 127.0.0.1:4242\n"))
	}()
	m := b.WaitFor(regexp.MustCompile(`ready on (\S+)`), 10*time.Second)
	if m == nil || m[1] != "127.0.0.1:4242" || len(b.String()) != 400+len(" ready on 127.0.0.1:4242\n") {
		t.Fatalf("match %q in %d bytes", m, len(b.String()))
	}
	if m := b.WaitFor(regexp.MustCompile(`never`), time.Millisecond); m != nil {
		t.Fatalf("matched %q", m)
	}
}

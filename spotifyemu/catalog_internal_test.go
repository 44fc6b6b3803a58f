package spotifyemu

import (
	"math/rand/v2"
	"testing"
)

func TestIDsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10_000 {
		k := kind(1 + i%4)
		n := rng.Uint64() >> 3 // ids carry 61 bits
		if i < 100 {
			n = uint64(i)
		}
		id := encodeID(k, n)
		if !validBase62ID(id) {
			t.Fatalf("encodeID(%d, %d) = %q: not 22 base62 characters", k, n, id)
		}
		gk, gn, ok := decodeID(id)
		if !ok || gk != k || gn != n {
			t.Fatalf("decodeID(%q) = %d, %d, %v; want %d, %d", id, gk, gn, ok, k, n)
		}
		// Any one changed character makes it a foreign id.
		b := []byte(id)
		pos := rng.IntN(len(b))
		b[pos] = base62[(indexBase62(b[pos])+1+rng.IntN(61))%62]
		if _, _, ok := decodeID(string(b)); ok {
			t.Fatalf("%q (changed from %q) decodes", b, id)
		}
	}
	for _, id := range []string{"", "short", "4iV5W9uYEdYUVa79Axb7Rh", "zzzzzzzzzzzzzzzzzzzzzz", "0000000000000000000000", "!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, _, ok := decodeID(id); ok {
			t.Errorf("decodeID(%q) ok", id)
		}
	}
}

func indexBase62(c byte) int {
	for i := range len(base62) {
		if base62[i] == c {
			return i
		}
	}
	return -1
}

func TestMixIsInverted(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		x := rng.Uint64()
		if got := unmix(mix(x)); got != x {
			t.Fatalf("unmix(mix(%#x)) = %#x", x, got)
		}
	}
}

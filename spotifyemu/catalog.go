package spotifyemu

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// The emulated catalog and users' libraries are pure functions of ids and
// seeds: nothing is stored, every emulator (and every process) answers the
// same objects for the same ids, and ids carry what is needed to rebuild the
// object they name.

// Catalog sizes. Album b is by artist b % catalogArtists and has
// albumTrackCount(b) tracks.
const (
	catalogArtists = 250
	catalogAlbums  = 1000
	maxAlbumTracks = 16 // track positions fit in 4 bits of a track id
)

// kind is what an emulated Spotify id names.
type kind uint64

const (
	kindArtist kind = 1 + iota
	kindAlbum
	kindTrack
	kindPlaylist
)

const (
	idHalf    = 11 // base62 digits of one 64-bit half of an id
	idLen     = 2 * idHalf
	checkSalt = 0x5bd1e9955bd1e995
	base62    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// encodeID returns the 22-character base62 id of entity n of kind k: a
// reversible scramble of (n, k) followed by a check half, so ids look like
// Spotify's and foreign or mistyped ids are told apart from emulated ones.
func encodeID(k kind, n uint64) string {
	v := n<<3 | uint64(k)
	var b [idLen]byte
	putBase62(b[:idHalf], mix(v))
	putBase62(b[idHalf:], mix(v^checkSalt))
	return string(b[:])
}

// decodeID reverses [encodeID]; ok is false for anything it did not make.
func decodeID(id string) (k kind, n uint64, ok bool) {
	if len(id) != idLen {
		return 0, 0, false
	}
	x, ok := parseBase62(id[:idHalf])
	if !ok {
		return 0, 0, false
	}
	v := unmix(x)
	k, n = kind(v&7), v>>3
	if encodeID(k, n) != id {
		return 0, 0, false
	}
	return k, n, true
}

// validBase62ID reports whether id has the form of a Spotify id.
func validBase62ID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(base62, id[i]) < 0 {
			return false
		}
	}
	return true
}

func putBase62(dst []byte, x uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62[x%62]
		x /= 62
	}
}

func parseBase62(s string) (uint64, bool) {
	var x uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base62, s[i])
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(x, 62)
		lo, carry := bits.Add64(lo, uint64(d), 0)
		if hi != 0 || carry != 0 {
			return 0, false
		}
		x = lo
	}
	return x, true
}

// mix is the SplitMix64 finalizer: a bijection on uint64 that scatters
// neighbouring inputs.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// unmix is the inverse of [mix].
func unmix(z uint64) uint64 {
	z = unshift(z, 31)
	z *= inverseOdd(0x94d049bb133111eb)
	z = unshift(z, 27)
	z *= inverseOdd(0xbf58476d1ce4e5b9)
	return unshift(z, 30)
}

// unshift inverts y = x ^ x>>s.
func unshift(y uint64, s uint) uint64 {
	x := y
	for i := uint(0); i < 64; i += s {
		x = y ^ x>>s
	}
	return x
}

// inverseOdd returns the multiplicative inverse of odd a modulo 2^64
// (Newton's iteration doubles the correct low bits each round).
func inverseOdd(a uint64) uint64 {
	x := a
	for range 6 {
		x *= 2 - a*x
	}
	return x
}

// seeded mixes vals into one pseudo-random value.
func seeded(vals ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vals {
		h = mix(h ^ mix(v+0x632be59bd9b4e019))
	}
	return h
}

// userSeed is the seed of a user's library: everything about the user's
// playlists and saved tracks derives from it.
func userSeed(user string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(user))
	return h.Sum64()
}

// userNumber returns N of a "user-N" id (the only ids the emulator issues).
func userNumber(user string) (uint64, bool) {
	s, ok := strings.CutPrefix(user, "user-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 40)
	return n, err == nil && n > 0
}

// A user's library. The first playlist is always long enough for several
// pages at the default limit of 20.
func playlistCount(seed uint64) int { return 21 + int(seeded(seed, 1)%10) } // 21..30
func playlistLength(seed uint64, p int) int {
	if p == 0 {
		return 61 + int(seeded(seed, 2)%40) // 61..100: four or five pages of 20
	}
	return int(seeded(seed, 3, uint64(p)) % 31)
}
func savedTrackCount(seed uint64) int { return 40 + int(seeded(seed, 4)%60) } // 40..99

func albumTrackCount(b uint64) int { return 4 + int(seeded(uint64(kindAlbum), b)%(maxAlbumTracks-3)) } // 4..16

// trackRef picks a catalog track from a pseudo-random value.
func trackRef(h uint64) (album uint64, pos int) {
	album = h % catalogAlbums
	return album, int((h >> 32) % uint64(albumTrackCount(album)))
}

func trackN(album uint64, pos int) uint64 { return album<<4 | uint64(pos) }

// The emulator's fixed time line: dates are derived from it, never from the
// clock, so answers are the same on every run.
func libraryEpoch() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }
func savedEpoch() time.Time   { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Words for names.
func word(list []string, h uint64) string { return list[h%uint64(len(list))] }

func adjectives() []string {
	return []string{"Silver", "Quiet", "Electric", "Golden", "Broken", "Northern", "Velvet", "Hidden", "Crimson",
		"Endless", "Paper", "Neon", "Wild", "Hollow", "Summer", "Midnight", "Lonely", "Bright", "Frozen", "Distant"}
}

func nouns() []string {
	return []string{"River", "Echo", "Garden", "Signal", "Harbor", "Mirror", "Lantern", "Engine", "Orchard", "Comet",
		"Meadow", "Circuit", "Tide", "Canyon", "Window", "Anthem", "Satellite", "Forest", "Parade", "Horizon"}
}

func genres() []string {
	return []string{"indie pop", "synthwave", "swedish jazz", "folk", "post-rock", "dream pop", "techno", "soul", "ambient", "garage rock"}
}

func artistName(a uint64) string {
	h := seeded(uint64(kindArtist), a, 10)
	if h%3 == 0 {
		return "The " + word(adjectives(), h>>8) + " " + word(nouns(), h>>16) + "s"
	}
	return word(adjectives(), h>>8) + " " + word(nouns(), h>>16)
}

func albumName(b uint64) string {
	h := seeded(uint64(kindAlbum), b, 10)
	return word(nouns(), h>>8) + " of the " + word(adjectives(), h>>16) + " " + word(nouns(), h>>24)
}

func trackName(b uint64, pos int) string {
	h := seeded(uint64(kindTrack), trackN(b, pos), 10)
	return word(adjectives(), h>>8) + " " + word(nouns(), h>>16)
}

func playlistName(seed uint64, p int) string {
	if p == 0 {
		return "Long Mix"
	}
	h := seeded(seed, 5, uint64(p))
	return word(adjectives(), h>>8) + " " + word(nouns(), h>>16) + " Mix"
}

// markets is the (deprecated) available_markets list of every catalog item.
func markets() []string { return []string{"DE", "GB", "SE", "US"} }

// imageURL is a stable image address on Spotify's image host; the emulator
// serves no images.
func imageURL(prefix string, h uint64) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], h)
	binary.BigEndian.PutUint32(b[8:], uint32(mix(h)))
	return fmt.Sprintf("https://i.scdn.co/image/%s%x", prefix, b)
}

func images(prefix string, h uint64) []image {
	return []image{
		{URL: imageURL(prefix+"0000b273", h), Height: ptr(640), Width: ptr(640)},
		{URL: imageURL(prefix+"00001e02", h), Height: ptr(300), Width: ptr(300)},
		{URL: imageURL(prefix+"00004851", h), Height: ptr(64), Width: ptr(64)},
	}
}

func ptr[T any](v T) *T { return &v }

func snapshotID(seed uint64, p int) string {
	var b [24]byte
	for i := range 3 {
		binary.BigEndian.PutUint64(b[8*i:], seeded(seed, 6, uint64(p), uint64(i)))
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

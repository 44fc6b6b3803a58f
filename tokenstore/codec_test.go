package tokenstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func key(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func sample() tokenstore.Record {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return tokenstore.Record{
		Account: "alice", Version: 3, AccessToken: "at-secret", RefreshToken: "rt-secret",
		Expiry: now.Add(time.Hour), Scope: "user-read-private", ObtainedAt: now, AuthorizedAt: now.Add(-time.Hour),
		RefreshedAt: now, Status: tokenstore.StatusOK,
	}
}

func TestCodecRoundTripPlainAndSealed(t *testing.T) {
	sealed, err := tokenstore.NewCodec(key(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*tokenstore.Codec{"plain": {}, "sealed": sealed} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Encode(sample())
			if err != nil {
				t.Fatal(err)
			}
			if c.Sealed() && (bytes.Contains(b, []byte("at-secret")) || bytes.Contains(b, []byte("rt-secret"))) {
				t.Fatal("sealed record holds a secret in clear")
			}
			got, err := c.Decode("alice", b)
			if err != nil {
				t.Fatal(err)
			}
			want := sample()
			if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || !got.Expiry.Equal(want.Expiry) ||
				!got.AuthorizedAt.Equal(want.AuthorizedAt) || got.Version != 3 || got.Scope != want.Scope {
				t.Fatalf("round trip: %+v", got)
			}
		})
	}
}

func TestCodecKeyRotationAndWrongKey(t *testing.T) {
	oldK, newK := key(t), key(t)
	oldC, _ := tokenstore.NewCodec(oldK)
	b, _ := oldC.Encode(sample())
	rotated, _ := tokenstore.NewCodec(newK, oldK)
	if _, err := rotated.Decode("alice", b); err != nil {
		t.Fatalf("old key no longer opens: %v", err)
	}
	wrong, _ := tokenstore.NewCodec(newK)
	_, err := wrong.Decode("alice", b)
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"alice"`) || !strings.Contains(err.Error(), "not among the configured keys") {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := (&tokenstore.Codec{}).Decode("alice", b); err == nil || !strings.Contains(err.Error(), "no encryption key is configured") {
		t.Fatalf("sealed record without a key: %v", err)
	}
	// Associated data: a record moved to another account does not open.
	if _, err := rotated.Decode("bob", bytes.Replace(b, []byte(`"account":"alice"`), []byte(`"account":"bob"`), 1)); err == nil {
		t.Fatal("record sealed for alice opened as bob")
	}
}

func TestCodecRejectsOtherFormatAndGarbage(t *testing.T) {
	c := &tokenstore.Codec{}
	for name, in := range map[string]string{
		"older format":  `{"format":0,"account":"alice","version":1,"status":"ok"}`,
		"newer format":  `{"format":2,"account":"alice","version":1,"status":"ok"}`,
		"garbage":       `{"format":1,`,
		"wrong account": `{"format":1,"account":"bob","version":1,"status":"ok"}`,
		"bad status":    `{"format":1,"account":"alice","version":1,"status":"weird"}`,
	} {
		if _, err := c.Decode("alice", []byte(in)); !errors.Is(err, tokenstore.ErrCorrupt) {
			t.Fatalf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestFileStoreWrongKeyStopsOpenAndLeavesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	c1, _ := tokenstore.NewCodec(key(t))
	st, err := tokenstore.OpenFileStore(path, c1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), sample(), 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, _ := os.ReadFile(path)
	c2, _ := tokenstore.NewCodec(key(t))
	if _, err := tokenstore.OpenFileStore(path, c2); err == nil || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("wrong key: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("file changed")
	}
}

func TestFileStoreCASAndSecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tokens.json")
	st, err := tokenstore.OpenFileStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	r := sample()
	got, err := st.Put(ctx, r, 0)
	if err != nil || got.Version != 1 {
		t.Fatalf("first put: %v %v", got.Version, err)
	}
	if _, err := st.Put(ctx, r, 0); !errors.Is(err, tokenstore.ErrVersionConflict) {
		t.Fatalf("stale put: %v", err)
	}
	if got, err := st.Put(ctx, r, 1); err != nil || got.Version != 2 {
		t.Fatalf("second put: %v", err)
	}
	if _, err := tokenstore.OpenFileStore(path, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second opener was allowed: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file left behind: %s", e.Name())
		}
	}
	if err := st.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "alice"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestFileStoreListPages(t *testing.T) {
	st, _ := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "t.json"), nil)
	defer st.Close()
	ctx := context.Background()
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		r := sample()
		r.Account = id
		st.Put(ctx, r, 0)
	}
	var ids []string
	cursor := ""
	for {
		recs, next, err := st.List(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ids = append(ids, r.Account)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if strings.Join(ids, ",") != "a,b,c,d,e" {
		t.Fatalf("pages: %v", ids)
	}
}

// FuzzDecodeRecord: decoding stored bytes never panics, and what decodes re-encodes
// to a record that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	k := make([]byte, 32)
	sealed, _ := tokenstore.NewCodec(k)
	plain := &tokenstore.Codec{}
	for _, c := range []*tokenstore.Codec{plain, sealed} {
		b, _ := c.Encode(sample())
		f.Add(b)
	}
	f.Add([]byte(`{"format":1,"account":"alice","status":"ok","sealed":{"kid":"00","nonce":"","ct":""}}`))
	f.Add([]byte(`{"format":2,"version":3,"kid":"00","nonce":"","ct":""}`))
	f.Add(legacySealed(f, k, sample()))
	f.Add([]byte(`null`))
	migrating := sealed.WithAcceptPlaintext(true)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []*tokenstore.Codec{plain, sealed, migrating} {
			rec, err := c.Decode("alice", data)
			if err != nil {
				if !errors.Is(err, tokenstore.ErrCorrupt) {
					t.Fatalf("error not wrapping ErrCorrupt: %v", err)
				}
				continue
			}
			b, err := c.Encode(rec)
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.Decode("alice", b)
			if err != nil || again.RefreshToken != rec.RefreshToken || again.AccessToken != rec.AccessToken || again.Version != rec.Version {
				t.Fatalf("re-encode differs: %v", err)
			}
		}
	})
}

// The traceparent of the refresh that obtained a token is an optional field: a record
// written before it existed reads as none and is written back without it; one that
// has it keeps it, in clear records and inside sealed ones.
func TestCodecTraceParentIsOptional(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	today := `{"format":1,"account":"alice","version":3,"status":"ok","expires_at":"2026-11-25T13:00:00Z",` +
		`"refreshed_at":"2026-11-25T12:00:00Z","refresh_trigger":"expired","access_token":"at","refresh_token":"rt"}`
	rec, err := (&tokenstore.Codec{}).Decode("alice", []byte(today))
	if err != nil || rec.TraceParent != "" || rec.AccessToken != "at" {
		t.Fatalf("record without a traceparent: %v, traceparent %q", err, rec.TraceParent)
	}
	if b, _ := (&tokenstore.Codec{}).Encode(rec); bytes.Contains(b, []byte("traceparent")) {
		t.Fatalf("a record without a traceparent is written with one: %s", b)
	}
	sealed := mustCodec(t, key(t))
	for name, c := range map[string]*tokenstore.Codec{"plain": {}, "sealed": sealed} {
		in := sample()
		in.TraceParent = tp
		b, err := c.Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		if c.Sealed() && bytes.Contains(b, []byte(tp)) {
			t.Errorf("%s: the traceparent is in clear beside the sealed record", name)
		}
		if got, err := c.Decode("alice", b); err != nil || got.TraceParent != tp {
			t.Errorf("%s: traceparent %q (%v), want %q", name, got.TraceParent, err, tp)
		}
	}
}

package tokenstore_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// attackerRecord is what someone with write access to the store, but not the key,
// would write: a valid-looking plaintext record with a token of their choosing.
func attackerRecord(account string, version int64, now time.Time) tokenstore.Record {
	return tokenstore.Record{
		Account: account, Version: version, AccessToken: "attacker-token", RefreshToken: "attacker-refresh",
		Expiry: now.Add(time.Hour), RefreshedAt: now, Status: tokenstore.StatusOK,
	}
}

func plainBytes(t *testing.T, rec tokenstore.Record) []byte {
	t.Helper()
	b, err := (&tokenstore.Codec{}).Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// legacySealed builds a record as the previous release wrote it with a key: format 1,
// metadata in clear, only the tokens sealed (associated data: the account id).
func legacySealed(t testing.TB, k []byte, rec tokenstore.Record) []byte {
	t.Helper()
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	sum := sha256.Sum256(k)
	nonce := bytes.Repeat([]byte{7}, aead.NonceSize())
	plain, _ := json.Marshal(map[string]string{"a": rec.AccessToken, "r": rec.RefreshToken})
	b, err := json.Marshal(map[string]any{
		"format": 1, "account": rec.Account, "version": rec.Version, "status": rec.Status, "scope": rec.Scope,
		"expires_at": rec.Expiry.UTC(), "refreshed_at": rec.RefreshedAt.UTC(),
		"sealed": map[string]any{"kid": hex.EncodeToString(sum[:4]), "nonce": nonce, "ct": aead.Seal(nil, nonce, plain, []byte(rec.Account))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSealedRecordShowsOnlyVersionAndKeyID: with a key, nothing of the record but its
// layout, version and key id is readable in the store.
func TestSealedRecordShowsOnlyVersionAndKeyID(t *testing.T) {
	c, _ := tokenstore.NewCodec(key(t))
	b, err := c.Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if got := strings.Join(keys, ","); got != "ct,format,kid,nonce,version" {
		t.Fatalf("clear fields of a sealed record: %s", got)
	}
	for _, leak := range []string{"alice", "at-secret", "rt-secret", "user-read-private", "2026", "ok"} {
		if bytes.Contains(b, []byte(`"`+leak)) || bytes.Contains(b, []byte(leak+`"`)) {
			t.Fatalf("sealed record shows %q: %s", leak, b)
		}
	}
	if string(fields["format"]) != "2" || string(fields["version"]) != "3" {
		t.Fatalf("format %s version %s", fields["format"], fields["version"])
	}
}

// TestSealedRecordTamperedMovedOrReversioned: a sealed record opens only unchanged,
// for its own account and its own version; clear fields added beside it are ignored.
func TestSealedRecordTamperedMovedOrReversioned(t *testing.T) {
	c, _ := tokenstore.NewCodec(key(t))
	b, _ := c.Encode(sample())
	var env map[string]any
	_ = json.Unmarshal(b, &env)
	edit := func(f func(map[string]any)) []byte {
		m := map[string]any{}
		for k, v := range env {
			m[k] = v
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	ct, _ := env["ct"].(string)
	flipped := []byte(ct)
	if flipped[5] == 'A' {
		flipped[5] = 'B'
	} else {
		flipped[5] = 'A'
	}
	for name, tc := range map[string]struct {
		account string
		data    []byte
	}{
		"ciphertext flipped":  {"alice", edit(func(m map[string]any) { m["ct"] = string(flipped) })},
		"version changed":     {"alice", edit(func(m map[string]any) { m["version"] = 4 })},
		"moved to bob":        {"bob", b},
		"nonce changed":       {"alice", edit(func(m map[string]any) { m["nonce"] = "AAAAAAAAAAAAAAAA" })},
		"key id of nobody":    {"alice", edit(func(m map[string]any) { m["kid"] = "00000000" })},
		"downgraded to v1":    {"alice", edit(func(m map[string]any) { m["format"] = 1; m["account"] = "alice"; m["status"] = "ok" })},
		"format 1 plaintext":  {"alice", plainBytes(t, sample())},
		"sealed without a ct": {"alice", edit(func(m map[string]any) { delete(m, "ct") })},
	} {
		rec, err := c.Decode(tc.account, tc.data)
		if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"`+tc.account+`"`) {
			t.Errorf("%s: %v, %v; want ErrCorrupt naming %q", name, rec, err, tc.account)
		}
		if err != nil && (strings.Contains(err.Error(), "at-secret") || strings.Contains(err.Error(), "rt-secret")) {
			t.Errorf("%s: the error shows a secret: %v", name, err)
		}
	}
	// Clear fields written beside the sealed ones change nothing.
	decorated := edit(func(m map[string]any) {
		m["access_token"], m["status"], m["account"], m["expires_at"] = "attacker-token", "reauth_required", "mallory", "2099-01-01T00:00:00Z"
	})
	rec, err := c.Decode("alice", decorated)
	if err != nil || rec.AccessToken != "at-secret" || rec.Status != tokenstore.StatusOK || rec.Account != "alice" || !rec.Expiry.Equal(sample().Expiry) {
		t.Fatalf("clear fields beside a sealed record were used: %v %v", rec, err)
	}
}

// TestPlaintextRecordRefusedWithKeyUnlessMigrating: with a key a plaintext record is
// corrupt (naming the account, telling how to migrate); with the migration flag it is
// read, and written back sealed.
func TestPlaintextRecordRefusedWithKeyUnlessMigrating(t *testing.T) {
	c, _ := tokenstore.NewCodec(key(t))
	plain := plainBytes(t, sample())
	_, err := c.Decode("alice", plain)
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"alice"`) || !strings.Contains(err.Error(), "accepting plaintext records") {
		t.Fatalf("plaintext with a key: %v", err)
	}
	migrating := c.WithAcceptPlaintext(true)
	rec, err := migrating.Decode("alice", plain)
	if err != nil || rec.AccessToken != "at-secret" || rec.Version != 3 {
		t.Fatalf("migrating: %v %v", rec, err)
	}
	resealed, err := migrating.Encode(rec)
	if err != nil || !bytes.Contains(resealed, []byte(`"format":2`)) || bytes.Contains(resealed, []byte("at-secret")) {
		t.Fatalf("migration writes plaintext: %s %v", resealed, err)
	}
	if back, err := c.Decode("alice", resealed); err != nil || back.RefreshToken != "rt-secret" {
		t.Fatalf("re-sealed record: %v", err)
	}
	if c.WithAcceptPlaintext(false) == c || !c.Sealed() {
		t.Fatal("WithAcceptPlaintext must return a copy")
	}
	if _, err := c.Decode("alice", plain); err == nil {
		t.Fatal("WithAcceptPlaintext changed the codec it was called on")
	}
}

// TestLegacySealedTokensRecordStillOpens: records the previous release wrote with a
// key (format 1, only the tokens sealed) are read, also through key rotation, and are
// written back in the sealed layout.
func TestLegacySealedTokensRecordStillOpens(t *testing.T) {
	oldK, newK := key(t), key(t)
	legacy := legacySealed(t, oldK, sample())
	rotated, _ := tokenstore.NewCodec(newK, oldK)
	rec, err := rotated.Decode("alice", legacy)
	if err != nil || rec.AccessToken != "at-secret" || rec.RefreshToken != "rt-secret" || rec.Version != 3 {
		t.Fatalf("legacy record: %v %v", rec, err)
	}
	if _, err := rotated.Decode("bob", bytes.Replace(legacy, []byte(`"account":"alice"`), []byte(`"account":"bob"`), 1)); !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("legacy record moved to bob: %v", err)
	}
	b, _ := rotated.Encode(rec)
	onlyNew, _ := tokenstore.NewCodec(newK)
	if back, err := onlyNew.Decode("alice", b); err != nil || back.RefreshToken != "rt-secret" {
		t.Fatalf("re-sealed with the new key: %v", err)
	}
	if _, err := onlyNew.Decode("alice", legacy); !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), "not among the configured keys") {
		t.Fatalf("legacy record without its key: %v", err)
	}
}

// sealedSource is a Source on a Redis store with codec, logging into a buffer.
type sealedSource struct {
	src   *tokenstore.Source
	store *tokenstore.RedisStore
	m     *metrics.Metrics
	logs  *bytes.Buffer
}

func newSealedSource(t *testing.T, client redis.UniversalClient, prefix string, codec *tokenstore.Codec, sp tokenstore.Refresher, now func() time.Time) *sealedSource {
	t.Helper()
	s := &sealedSource{store: tokenstore.NewRedisStore(client, prefix, codec), m: metrics.New(prometheus.NewRegistry()), logs: &bytes.Buffer{}}
	s.src = tokenstore.NewSource(tokenstore.Config{
		Store: s.store, Refresher: sp, Metrics: s.m, Now: now, Logger: slog.New(slog.NewTextHandler(s.logs, nil)),
		AppAccount: "app", ScanInterval: -1,
	})
	s.src.Run()
	t.Cleanup(s.src.Close)
	return s
}

// TestRedisPlaintextRecordInjectedWithKeyIsRefused: a plaintext record written into
// Redis by someone without the key is reported (log naming the account, store error
// counted), its token is never handed out, and nothing overwrites it; the same for a
// tampered sealed record and one copied from another account.
func TestRedisPlaintextRecordInjectedWithKeyIsRefused(t *testing.T) {
	_, client := newMiniredis(t)
	ctx := context.Background()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	prefix := testPrefix()
	codec := mustCodec(t, aesKey(1))
	s := newSealedSource(t, client, prefix, codec, sp, clk.Now)

	// A genuine sealed record for bob, to tamper with and to copy.
	if _, err := s.src.Seed(ctx, "bob", sp.issue()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.src.Token(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	bobRaw, _ := client.HGet(ctx, prefix+"{bob}:token", "r").Result()
	bobV, _ := client.HGet(ctx, prefix+"{bob}:token", "v").Result()

	tampered := []byte(bobRaw)
	i := bytes.Index(tampered, []byte(`"ct":"`)) + 10
	tampered[i] ^= 1
	for _, tc := range []struct {
		name, account, v string
		r                []byte
	}{
		{"plaintext", "mallory", "1", plainBytes(t, attackerRecord("mallory", 1, clk.Now()))},
		{"plaintext at version 0", "zero", "0", plainBytes(t, attackerRecord("zero", 0, clk.Now()))},
		{"tampered ciphertext", "tampered", bobV, tampered},
		{"copied from bob", "copy", bobV, []byte(bobRaw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := prefix + "{" + tc.account + "}:token"
			if err := client.HSet(ctx, k, "v", tc.v, "r", tc.r).Err(); err != nil {
				t.Fatal(err)
			}
			before := dumpKey(t, client, k)
			errsBefore := testutil.ToFloat64(s.m.StoreErrors.WithLabelValues(metrics.OpRead))
			s.logs.Reset()
			cred, err := s.src.Token(ctx, tc.account)
			if err == nil || !errors.Is(err, tokenstore.ErrCorrupt) {
				t.Fatalf("Token: %v, %v; want an error wrapping ErrCorrupt", cred, err)
			}
			if n := testutil.ToFloat64(s.m.StoreErrors.WithLabelValues(metrics.OpRead)) - errsBefore; n < 1 {
				t.Fatal("the refused record was not counted in spotify_proxy_store_errors_total{op=\"read\"}")
			}
			logs := s.logs.String()
			if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, tc.account) {
				t.Fatalf("the refused record was not logged naming %q: %s", tc.account, logs)
			}
			if strings.Contains(logs, "attacker") || strings.Contains(logs, "at-") || strings.Contains(logs, "rt-") {
				t.Fatalf("the log shows a token: %s", logs)
			}
			// Nothing of ours writes over it.
			if _, err := s.src.Seed(ctx, tc.account, sp.issue()); !errors.Is(err, tokenstore.ErrCorrupt) {
				t.Fatalf("Seed over it: %v", err)
			}
			if err := s.src.Deliver(ctx, tc.account, tokenstore.Delivery{RefreshToken: sp.issue()}); !errors.Is(err, tokenstore.ErrCorrupt) {
				t.Fatalf("Deliver over it: %v", err)
			}
			if after := dumpKey(t, client, k); after != before {
				t.Fatalf("the refused record changed: %s -> %s", before, after)
			}
		})
	}
	// The Lua compare-and-set refuses to write over a plaintext record even by a
	// writer that names its version (which no reader of this store can have learnt).
	for _, expect := range []int64{0, 1} {
		_, err := s.store.Put(ctx, attackerRecord("mallory", 0, clk.Now()), expect)
		if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), "plaintext") {
			t.Fatalf("Put over the plaintext record expecting %d: %v", expect, err)
		}
	}
	if sp.calls.Load() != 1 {
		t.Fatalf("token calls = %d, want 1 (bob's): a refresh ran on a refused record", sp.calls.Load())
	}
}

// TestRedisPlaintextMigration: with TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT a plaintext
// record is used and sealed at its next write, after which a replica without the flag
// reads it.
func TestRedisPlaintextMigration(t *testing.T) {
	_, client := newMiniredis(t)
	ctx := context.Background()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	prefix := testPrefix()
	// Written by the release before, without a key.
	old := tokenstore.NewRedisStore(client, prefix, nil)
	rec := attackerRecord("default", 0, clk.Now())
	rec.AccessToken, rec.RefreshToken = "at-old", sp.issue()
	if _, err := old.Put(ctx, rec, 0); err != nil {
		t.Fatal(err)
	}
	codec := mustCodec(t, aesKey(1))
	strict := newSealedSource(t, client, prefix, codec, sp, clk.Now)
	if _, err := strict.src.Token(ctx, "default"); !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("without the flag: %v", err)
	}
	migrating := newSealedSource(t, client, prefix, codec.WithAcceptPlaintext(true), sp, clk.Now)
	cred, err := migrating.src.Token(ctx, "default")
	if err != nil || cred.AccessToken != "at-old" {
		t.Fatalf("migrating: %v %v", cred, err)
	}
	raw, _ := client.HGet(ctx, prefix+"{default}:token", "r").Result()
	if !strings.Contains(raw, `"format":1`) {
		t.Fatal("a read must not rewrite the record")
	}
	// The next write (here a refresh after a 401) seals it.
	if _, err := migrating.src.Invalidate(ctx, "default", "at-old", clk.Now()); err != nil {
		t.Fatal(err)
	}
	raw, _ = client.HGet(ctx, prefix+"{default}:token", "r").Result()
	if !strings.Contains(raw, `"format":2`) || strings.Contains(raw, "at-") || strings.Contains(raw, "rt-") {
		t.Fatalf("not sealed after its next write: %s", raw)
	}
	got, err := tokenstore.NewRedisStore(client, prefix, codec).Get(ctx, "default")
	if err != nil || got.AccessToken == "at-old" || got.AccessToken == "" {
		t.Fatalf("strict read after the migration: %v %v", got, err)
	}
}

// TestRedisKeyRotationWithSealedRecords: records sealed with the old key are read
// with TOKEN_ENCRYPTION_OLD_KEYS and re-sealed with the new key at their next write.
func TestRedisKeyRotationWithSealedRecords(t *testing.T) {
	_, client := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	oldStore := tokenstore.NewRedisStore(client, prefix, mustCodec(t, aesKey(1)))
	if _, err := oldStore.Put(ctx, sampleRecord("alice"), 0); err != nil {
		t.Fatal(err)
	}
	// A legacy record (the previous release with the old key) rotates too.
	legacyRec := sampleRecord("bob")
	legacyRec.Version = 1
	if err := client.HSet(ctx, prefix+"{bob}:token", "v", "1", "r", legacySealed(t, aesKey(1), legacyRec)).Err(); err != nil {
		t.Fatal(err)
	}
	rotated := tokenstore.NewRedisStore(client, prefix, mustCodec(t, aesKey(2), aesKey(1)))
	onlyNew := tokenstore.NewRedisStore(client, prefix, mustCodec(t, aesKey(2)))
	for _, acct := range []string{"alice", "bob"} {
		rec, err := rotated.Get(ctx, acct)
		if err != nil || rec.RefreshToken != "rt-secret-"+acct {
			t.Fatalf("%s with the old key second: %v", acct, err)
		}
		if _, err := onlyNew.Get(ctx, acct); !errors.Is(err, tokenstore.ErrCorrupt) {
			t.Fatalf("%s opened without its key: %v", acct, err)
		}
		if _, err := rotated.Put(ctx, rec, rec.Version); err != nil {
			t.Fatalf("%s re-seal: %v", acct, err)
		}
		if back, err := onlyNew.Get(ctx, acct); err != nil || back.RefreshToken != "rt-secret-"+acct {
			t.Fatalf("%s after re-sealing: %v", acct, err)
		}
	}
}

// TestFilePlaintextRecordWithKey: a plaintext record in the token file with a key
// stops the start, naming the account and the way to migrate, and the file is left
// as it is; with the migration flag it is read and sealed at its next write.
func TestFilePlaintextRecordWithKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	plainStore, err := tokenstore.OpenFileStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if _, err := plainStore.Put(ctx, attackerRecord("mallory", 0, now), 0); err != nil {
		t.Fatal(err)
	}
	plainStore.Close()
	before, _ := os.ReadFile(path)
	codec, _ := tokenstore.NewCodec(key(t))
	_, err = tokenstore.OpenFileStore(path, codec)
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"mallory"`) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "accepting plaintext records") || strings.Contains(err.Error(), "attacker") {
		t.Fatalf("open with a key: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the token file changed")
	}
	st, err := tokenstore.OpenFileStore(path, codec.WithAcceptPlaintext(true))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(ctx, "mallory")
	if err != nil || rec.AccessToken != "attacker-token" {
		t.Fatalf("migrating read: %v", err)
	}
	if _, err := st.Put(ctx, rec, rec.Version); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("attacker-token")) {
		t.Fatal("still plaintext after its next write")
	}
	st, err = tokenstore.OpenFileStore(path, codec)
	if err != nil {
		t.Fatalf("strict open after the migration: %v", err)
	}
	st.Close()
}

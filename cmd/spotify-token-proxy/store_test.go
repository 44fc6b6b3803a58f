package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// TestOpenStoreEncryptionAndFileMode: the file store gets TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT
// and the logger: a plaintext record with a key stops the start unless the flag is
// set, and a token file open to group or others is made 0600 with a warning.
func TestOpenStoreEncryptionAndFileMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokens.json")
	plain, err := tokenstore.OpenFileStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Put(ctx, tokenstore.Record{Account: "default", RefreshToken: "rt-plain", Status: tokenstore.StatusOK,
		AccessToken: "at-plain", Expiry: time.Now().Add(time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	codec, err := tokenstore.NewCodec(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	_, err = openStore(ctx, &config.Config{TokenFile: path}, codec, log)
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"default"`) || strings.Contains(err.Error(), "rt-plain") || strings.Contains(err.Error(), "at-plain") {
		t.Fatalf("plaintext record with a key: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %#o, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(logs.String(), path) || !strings.Contains(logs.String(), "0644") {
		t.Fatalf("no warning naming the file and its old mode: %s", logs.String())
	}

	st, err := openStore(ctx, &config.Config{TokenFile: path, AcceptPlaintext: true}, codec, log)
	if err != nil {
		t.Fatalf("with TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT: %v", err)
	}
	defer st.close()
	rec, err := st.store.Get(ctx, "default")
	if err != nil || rec.RefreshToken != "rt-plain" {
		t.Fatalf("migrating read: %v", err)
	}
	if !strings.Contains(logs.String(), "TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT") {
		t.Fatal("the migration mode is not logged")
	}
}

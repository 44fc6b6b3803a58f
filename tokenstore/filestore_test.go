package tokenstore_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// TestFileStoreModeEnforced: a token file that group or others may read or write is
// made 0600 at open, with a warning naming the file and its old mode; a 0600 file
// is left alone, silently.
func TestFileStoreModeEnforced(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		warning string
	}{
		{"world readable", 0o644, "0644"},
		{"group writable", 0o620, "0620"},
		{"others only", 0o604, "0604"},
		{"everything", 0o777, "0777"},
		{"already private", 0o600, ""},
		{"owner read only", 0o400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.json")
			if err := os.WriteFile(path, []byte(`{"format":1,"accounts":{}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			st, err := tokenstore.OpenFileStore(path, nil, tokenstore.WithFileStoreLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.mode
			if tc.warning != "" {
				want = 0o600
			}
			if got := fi.Mode().Perm(); got != want {
				t.Fatalf("mode after open = %#o, want %#o", got, want)
			}
			out := logs.String()
			if tc.warning == "" {
				if out != "" {
					t.Fatalf("unexpected log: %s", out)
				}
				return
			}
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, path) || !strings.Contains(out, tc.warning) {
				t.Fatalf("the warning does not name the file and the old mode %s: %q", tc.warning, out)
			}
		})
	}
}

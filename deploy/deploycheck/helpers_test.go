package deploycheck

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
)

// repoRoot is the proxy's repository, two levels up.
const repoRoot = "../.."

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// proxyAccepts loads env with the proxy's own config package and fails the test when
// the proxy would refuse it. files maps a *_FILE value to the content the test puts
// there (the secret files a deployment mounts).
func proxyAccepts(t *testing.T, where string, env map[string]string, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	get := func(k string) string {
		v := env[k]
		if content, ok := files[v]; ok && strings.HasSuffix(k, "_FILE") && k != "TOKEN_FILE" {
			p := filepath.Join(dir, strings.ReplaceAll(strings.Trim(v, "/"), "/", "_"))
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		return v
	}
	cfg, err := config.Load(nil, get, io.Discard)
	if err != nil {
		t.Fatalf("%s: the proxy refuses this environment: %v", where, err)
	}
	return cfg
}

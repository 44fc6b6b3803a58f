package deploycheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	unitPath    = "deploy/systemd/spotify-token-proxy.service"
	envTemplate = "deploy/systemd/spotify-token-proxy.env"
)

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", unitPath, i+1, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// last is the value in force for a key that is set once (the last assignment wins).
func (u unitFile) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// unitEnv is the service's Environment= assignments.
func (u unitFile) env() map[string]string {
	env := map[string]string{}
	for _, a := range u["Service"]["Environment"] {
		k, v, _ := strings.Cut(strings.Trim(a, `"`), "=")
		env[k] = v
	}
	return env
}

// TestSystemdUnitHardening: the unit confines the proxy to what it needs.
func TestSystemdUnitHardening(t *testing.T) {
	u := parseUnit(t, readRepoFile(t, unitPath))
	for key, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "spotify-token-proxy", "StateDirectoryMode": "0700", "UMask": "0077",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "PrivateUsers": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "RestrictSUIDSGID": "yes", "RestrictRealtime": "yes",
		"RestrictNamespaces": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
		"ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
		"SystemCallArchitectures": "native", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"ExecStart": "/usr/local/bin/spotify-token-proxy", "Restart": "on-failure",
	} {
		vals, ok := u["Service"][key]
		if !ok {
			t.Errorf("[Service] lacks %s=%s", key, want)
		} else if got := vals[len(vals)-1]; got != want {
			t.Errorf("[Service] %s=%s, want %s", key, got, want)
		}
	}
	if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%v: want @system-service first", f)
	}
	if _, ok := u["Service"]["User"]; ok {
		t.Errorf("User= with DynamicUser: the user is allocated by systemd")
	}
	// The token file lives in the state directory, the only writable place.
	env := u.env()
	if env["TOKEN_FILE"] != "%S/spotify-token-proxy/tokens.json" {
		t.Errorf("TOKEN_FILE=%q, want %%S/spotify-token-proxy/tokens.json (the StateDirectory)", env["TOKEN_FILE"])
	}
	// The secrets come from credentials, never the environment file.
	cred := u["Service"]["LoadCredential"]
	for name, fileVar := range map[string]string{"client-secret": "SPOTIFY_CLIENT_SECRET_FILE", "admin-token": "ADMIN_TOKEN_FILE"} {
		if !slices.ContainsFunc(cred, func(c string) bool { return strings.HasPrefix(c, name+":") }) || env[fileVar] != "%d/"+name {
			t.Errorf("LoadCredential=%v %s=%q: want %s as a credential", cred, fileVar, env[fileVar], name)
		}
	}
	if u.last("Service", "EnvironmentFile") != "/etc/spotify-token-proxy/env" {
		t.Errorf("EnvironmentFile=%q, want /etc/spotify-token-proxy/env", u.last("Service", "EnvironmentFile"))
	}
	if u.last("Install", "WantedBy") != "multi-user.target" {
		t.Errorf("WantedBy=%q, want multi-user.target", u.last("Install", "WantedBy"))
	}
}

// TestSystemdEnvTemplate: the environment template with the unit's own assignments is
// a configuration the proxy accepts, sets no secret in clear, and keeps the listeners
// on loopback.
func TestSystemdEnvTemplate(t *testing.T) {
	u := parseUnit(t, readRepoFile(t, unitPath))
	env := map[string]string{}
	for i, line := range strings.Split(readRepoFile(t, envTemplate), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			t.Fatalf("%s:%d: not KEY=value: %q", envTemplate, i+1, line)
		}
		if secretLike.MatchString(k) && !strings.HasSuffix(k, "_FILE") && v != "" {
			t.Errorf("%s sets %s: secrets go in credentials or stay commented out", envTemplate, k)
		}
		env[k] = v
	}
	for k, v := range u.env() {
		if _, dup := env[k]; dup {
			t.Errorf("%s sets %s, which the unit sets (%s)", envTemplate, k, v)
		}
		v = strings.ReplaceAll(v, "%S", "/var/lib")
		v = strings.ReplaceAll(v, "%d", "/run/credentials/spotify-token-proxy.service")
		env[k] = v
	}
	cfg := proxyAccepts(t, envTemplate+" + unit", env, map[string]string{
		"/run/credentials/spotify-token-proxy.service/client-secret": "ci-client-secret",
		"/run/credentials/spotify-token-proxy.service/admin-token":   "ci-admin-token-0123456789",
	})
	if cfg.TokenFile != "/var/lib/spotify-token-proxy/tokens.json" || cfg.ClientSecret != "ci-client-secret" {
		t.Errorf("TOKEN_FILE %q, client secret read %v: want the state directory and the credential", cfg.TokenFile, cfg.ClientSecret != "")
	}
	for _, addr := range []string{cfg.ListenAddr, cfg.AdminAddr} {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("listener %s: the template keeps listeners on loopback", addr)
		}
	}
}

// systemdAnalyze runs systemd-analyze on the unit with ExecStart pointing at an
// executable that exists here (verify checks it), and returns all it printed.
func systemdAnalyze(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found: install Debian's systemd package (apt-get install systemd); .ci/run does")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllString(readRepoFile(t, unitPath), "ExecStart="+self)
	unit := filepath.Join(t.TempDir(), "spotify-token-proxy.service")
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, append(args, unit)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0")
	err = cmd.Run()
	return out.String(), err
}

// TestSystemdAnalyzeVerify: systemd itself loads the unit without a complaint
// (verify exits 0 even on unknown keys, so any output fails the test).
func TestSystemdAnalyzeVerify(t *testing.T) {
	out, err := systemdAnalyze(t, "verify")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdAnalyzeSecurity: systemd's own exposure score, computed offline, stays
// at "OK" (below 1.5 of 10; an unhardened service scores 9.6).
func TestSystemdAnalyzeSecurity(t *testing.T) {
	out, err := systemdAnalyze(t, "security", "--offline=true", "--threshold=15", "--no-pager")
	if err != nil {
		t.Fatalf("systemd-analyze security: %v (exposure above 1.5)\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([\d.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	t.Logf("exposure level %s", m[1])
}

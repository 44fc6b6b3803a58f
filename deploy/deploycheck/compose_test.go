package deploycheck

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeDir   = repoRoot + "/deploy/compose"
	proxyService = "spotify-token-proxy"
)

// loadCompose loads and validates compose files as `docker compose config` does
// (schema, interpolation, normalization, consistency), with env as the only
// environment (no .env file, no process environment).
func loadCompose(t *testing.T, dir string, env []string, files ...string) (*types.Project, error) {
	t.Helper()
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f)
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(dir), cli.WithEnv(env),
		cli.WithResolvedPaths(true), cli.WithInterpolation(true), cli.WithNormalization(true), cli.WithConsistency(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

var ciEnv = []string{"SPOTIFY_CLIENT_ID=ci-client-id"}

func mustLoadCompose(t *testing.T, files ...string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, composeDir, ciEnv, files...)
	if err != nil {
		t.Fatalf("docker compose -f %s config: %v", strings.Join(files, " -f "), err)
	}
	return p
}

// serviceEnv is the service's environment with the secret files it mounts.
func serviceEnv(t *testing.T, p *types.Project, svc types.ServiceConfig) (map[string]string, map[string]string) {
	t.Helper()
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	files := map[string]string{}
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		files[target] = "ci-secret-" + s.Source
		def, ok := p.Secrets[s.Source]
		if !ok || def.File == "" {
			t.Errorf("secret %s: not defined from a file at the top level", s.Source)
		}
	}
	return env, files
}

// checkProxyService checks what both variants share.
func checkProxyService(t *testing.T, p *types.Project) types.ServiceConfig {
	t.Helper()
	svc, ok := p.Services[proxyService]
	if !ok {
		t.Fatalf("no %s service", proxyService)
	}
	if ref := svc.Image; ref == "" || strings.HasSuffix(ref, ":latest") || !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		t.Errorf("image %q: want an explicit tag, never latest", ref)
	}
	if svc.Build == nil || filepath.Clean(svc.Build.Context) != filepath.Clean(mustAbs(t, repoRoot)) {
		t.Errorf("build: %+v, want the repository's Dockerfile (context ../..)", svc.Build)
	}
	want := types.HealthCheckTest{"CMD", "/usr/local/bin/spotify-token-proxy", "healthcheck"}
	if svc.HealthCheck == nil || !slices.Equal(svc.HealthCheck.Test, want) {
		t.Errorf("healthcheck %+v, want test %v (the image has no shell)", svc.HealthCheck, want)
	}
	env, files := serviceEnv(t, p, svc)
	for k, v := range env {
		if strings.HasSuffix(k, "_FILE") && k != "TOKEN_FILE" {
			if _, ok := files[v]; !ok {
				t.Errorf("%s=%s: no secret is mounted there", k, v)
			}
		}
		if secretLike.MatchString(k) && !strings.HasSuffix(k, "_FILE") && v != "" && !strings.HasPrefix(k, "REDIS_URL") {
			t.Errorf("%s is set in the environment: secrets come from files (%s_FILE)", k, k)
		}
	}
	if env["SPOTIFY_CLIENT_SECRET_FILE"] == "" || env["ADMIN_TOKEN_FILE"] == "" {
		t.Errorf("want SPOTIFY_CLIENT_SECRET_FILE and ADMIN_TOKEN_FILE from secrets, got %v", env)
	}
	for _, port := range svc.Ports {
		if port.HostIP != "127.0.0.1" {
			t.Errorf("port %d published on %q: want 127.0.0.1 only", port.Target, port.HostIP)
		}
	}
	if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") || !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("want read_only, cap_drop ALL and no-new-privileges; got read_only=%v cap_drop=%v security_opt=%v",
			svc.ReadOnly, svc.CapDrop, svc.SecurityOpt)
	}
	return svc
}

var secretLike = regexp.MustCompile(`SECRET|TOKEN$|PASSWORD|_KEY`)

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestComposeFileStore: compose.yaml validates, runs the proxy with the file store on
// a named volume, and its environment is one the proxy accepts.
func TestComposeFileStore(t *testing.T) {
	p := mustLoadCompose(t, "compose.yaml")
	svc := checkProxyService(t, p)
	env, files := serviceEnv(t, p, svc)
	cfg := proxyAccepts(t, "compose.yaml", env, files)
	if cfg.UsesRedis() {
		t.Fatalf("compose.yaml uses Redis; want the embedded file store")
	}
	dataDir := filepath.Dir(cfg.TokenFile)
	i := slices.IndexFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == dataDir })
	if i < 0 {
		t.Fatalf("TOKEN_FILE %s: nothing mounted at %s", cfg.TokenFile, dataDir)
	}
	if v := svc.Volumes[i]; v.Type != types.VolumeTypeVolume || p.Volumes[v.Source].Name == "" {
		t.Errorf("%s is a %s mount of %q: want a named volume", dataDir, v.Type, v.Source)
	}
}

// TestComposeRedis: compose.yaml with compose.redis.yaml runs Redis beside the proxy,
// which waits for it to be healthy and stores tokens there.
func TestComposeRedis(t *testing.T) {
	p := mustLoadCompose(t, "compose.yaml", "compose.redis.yaml")
	svc := checkProxyService(t, p)
	env, files := serviceEnv(t, p, svc)
	cfg := proxyAccepts(t, "compose.yaml + compose.redis.yaml", env, files)
	if !cfg.UsesRedis() || !strings.HasPrefix(cfg.RedisURL, "redis://redis:") {
		t.Fatalf("REDIS_URL %q: want the redis service", cfg.RedisURL)
	}
	if dep, ok := svc.DependsOn["redis"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("depends_on %+v: want redis service_healthy", svc.DependsOn)
	}
	redis, ok := p.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	if redis.HealthCheck == nil || len(redis.HealthCheck.Test) == 0 {
		t.Errorf("redis has no healthcheck")
	}
	if !regexp.MustCompile(`^redis:\d+\.\d+\.\d+`).MatchString(redis.Image) {
		t.Errorf("redis image %q: want a pinned version", redis.Image)
	}
	if !slices.ContainsFunc(redis.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/data"
	}) {
		t.Errorf("redis keeps no data on a named volume")
	}
}

// TestComposeExampleApp: the commented example app, once uncommented, is valid and
// points its Spotify base URL at the proxy's service name, which ALLOWED_HOSTS admits.
func TestComposeExampleApp(t *testing.T) {
	text := readRepoFile(t, "deploy/compose/compose.yaml")
	var out []string
	uncommented := 0
	inApp := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "  # my-app:") {
			inApp = true
		}
		if inApp && strings.HasPrefix(line, "  # ") {
			line = "  " + strings.TrimPrefix(line, "  # ")
			uncommented++
		} else if inApp {
			inApp = false
		}
		out = append(out, line)
	}
	if uncommented == 0 {
		t.Fatal("compose.yaml has no commented `my-app` service")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := loadCompose(t, dir, ciEnv, "compose.yaml")
	if err != nil {
		t.Fatalf("compose.yaml with my-app uncommented: %v", err)
	}
	app := p.Services["my-app"]
	found := false
	for _, v := range app.Environment {
		if v != nil && *v == "http://"+proxyService+":8080" {
			found = true
		}
	}
	if !found {
		t.Errorf("my-app environment %v: want a base URL http://%s:8080", app.Environment, proxyService)
	}
	if dep, ok := app.DependsOn[proxyService]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("my-app depends_on %+v: want %s service_healthy", app.DependsOn, proxyService)
	}
	env, files := serviceEnv(t, p, p.Services[proxyService])
	cfg := proxyAccepts(t, "compose.yaml", env, files)
	if cfg.AllowedHosts != nil && !slices.Contains(cfg.AllowedHosts, proxyService) {
		t.Errorf("ALLOWED_HOSTS %v does not admit %q, the name my-app uses", cfg.AllowedHosts, proxyService)
	}
}

// TestComposeValidationBites: the loader used here refuses what Compose refuses, and
// the client id must be given.
func TestComposeValidationBites(t *testing.T) {
	if _, err := loadCompose(t, composeDir, nil, "compose.yaml"); err == nil || !strings.Contains(err.Error(), "SPOTIFY_CLIENT_ID") {
		t.Errorf("without SPOTIFY_CLIENT_ID: err %v, want one naming it", err)
	}
	dir := t.TempDir()
	bad := strings.Replace(readRepoFile(t, "deploy/compose/compose.yaml"), "retries: 3", "retries: three", 1)
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCompose(t, dir, ciEnv, "compose.yaml"); err == nil {
		t.Errorf("a schema error (retries: three) was accepted")
	}
}

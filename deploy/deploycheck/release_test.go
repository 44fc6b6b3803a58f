package deploycheck

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

const (
	modulePath   = "github.com/spotify-token-proxy/spotify-token-proxy"
	buildinfoPkg = modulePath + "/internal/buildinfo"
)

type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		Main    string   `yaml:"main"`
		Env     []string `yaml:"env"`
		Flags   []string `yaml:"flags"`
		LDFlags []string `yaml:"ldflags"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
		Goarm   []string `yaml:"goarm"`
		Ignore  []struct {
			Goos   string `yaml:"goos"`
			Goarch string `yaml:"goarch"`
		} `yaml:"ignore"`
	} `yaml:"builds"`
	Archives []struct {
		Files []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum struct {
		Algorithm string `yaml:"algorithm"`
	} `yaml:"checksum"`
	SBOMs []struct {
		Artifacts string `yaml:"artifacts"`
	} `yaml:"sboms"`
	DockersV2 []struct {
		Dockerfile string            `yaml:"dockerfile"`
		Platforms  []string          `yaml:"platforms"`
		BuildArgs  map[string]string `yaml:"build_args"`
		ExtraFiles []string          `yaml:"extra_files"`
	} `yaml:"dockers_v2"`
}

func loadGoreleaser(t *testing.T) goreleaserConfig {
	t.Helper()
	var c goreleaserConfig
	if err := yaml.Unmarshal([]byte(readRepoFile(t, ".goreleaser.yaml")), &c); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return c
}

// TestGoreleaserTargets: archives for linux/darwin/windows × amd64/arm64 and
// linux/arm/v7, static, with the build facts; checksums, an SBOM per archive, and
// images for the Raspberry Pi platforms too. (`make dist` runs goreleaser check and a
// snapshot; this is the part that needs no tool.)
func TestGoreleaserTargets(t *testing.T) {
	c := loadGoreleaser(t)
	if c.Version != 2 || len(c.Builds) != 1 {
		t.Fatalf("version %d with %d builds: want the v2 schema and one build", c.Version, len(c.Builds))
	}
	b := c.Builds[0]
	var got []string
	for _, goos := range b.Goos {
		for _, goarch := range b.Goarch {
			if slices.ContainsFunc(b.Ignore, func(i struct {
				Goos   string `yaml:"goos"`
				Goarch string `yaml:"goarch"`
			}) bool {
				return i.Goos == goos && i.Goarch == goarch
			}) {
				continue
			}
			if goarch == "arm" {
				for _, v := range b.Goarm {
					got = append(got, goos+"/arm/v"+v)
				}
				continue
			}
			got = append(got, goos+"/"+goarch)
		}
	}
	slices.Sort(got)
	want := []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm64"}
	if !slices.Equal(got, want) {
		t.Errorf("build targets %v, want %v", got, want)
	}
	if b.Main != "./cmd/spotify-token-proxy" || !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
		t.Errorf("build main=%s env=%v flags=%v: want the static, trimmed proxy", b.Main, b.Env, b.Flags)
	}
	ld := strings.Join(b.LDFlags, " ")
	for _, v := range []string{"version", "commit", "date"} {
		if !strings.Contains(ld, "-X "+buildinfoPkg+"."+v+"=") {
			t.Errorf("ldflags do not set %s.%s: %s", buildinfoPkg, v, ld)
		}
	}
	if c.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum algorithm %q, want sha256", c.Checksum.Algorithm)
	}
	if len(c.SBOMs) == 0 || c.SBOMs[0].Artifacts != "archive" {
		t.Errorf("sboms %+v: want one per archive", c.SBOMs)
	}
	for _, a := range c.Archives {
		for _, f := range a.Files {
			if _, err := os.Stat(filepath.Join(repoRoot, f)); err != nil {
				t.Errorf("archive file %s: %v", f, err)
			}
		}
	}
	if len(c.DockersV2) != 1 {
		t.Fatalf("dockers_v2: %d entries, want 1", len(c.DockersV2))
	}
	d := c.DockersV2[0]
	if d.Dockerfile != "Dockerfile" || !slices.Equal(d.Platforms, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}) {
		t.Errorf("dockers_v2 dockerfile=%s platforms=%v: want the repository's Dockerfile for amd64, arm64, arm/v7", d.Dockerfile, d.Platforms)
	}
	for _, arg := range []string{"VERSION", "COMMIT", "DATE"} {
		if d.BuildArgs[arg] == "" {
			t.Errorf("dockers_v2 build_args lack %s", arg)
		}
	}
}

// TestImageContextHoldsTheSources: the image is built from source in the Dockerfile,
// so GoReleaser's build context (extra_files) must hold every package the proxy
// imports from this module.
func TestImageContextHoldsTheSources(t *testing.T) {
	d := loadGoreleaser(t).DockersV2[0]
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}", "./cmd/spotify-token-proxy")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, f := range []string{"go.mod", "go.sum", ".dockerignore"} {
		if !slices.Contains(d.ExtraFiles, f) {
			t.Errorf("dockers_v2 extra_files lack %s", f)
		}
	}
	for _, pkg := range strings.Fields(string(out)) {
		dir := strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/")
		if !slices.ContainsFunc(d.ExtraFiles, func(f string) bool { return dir == f || strings.HasPrefix(dir, f+"/") }) {
			t.Errorf("dockers_v2 extra_files lack %s, which the proxy imports", dir)
		}
	}
}

// TestDockerfileCrossCompiles runs the Dockerfile's own build command with sh, as
// BuildKit would on an amd64 builder for each target platform, and checks the binary
// it makes (no container engine here; this is the part of the image build that can
// go wrong per platform).
func TestDockerfileCrossCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the proxy")
	}
	text := readRepoFile(t, "Dockerfile")
	joined := regexp.MustCompile(`\\\n`).ReplaceAllString(text, " ")
	var run string
	for _, line := range strings.Split(joined, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			run = strings.TrimPrefix(line, "RUN ")
		}
	}
	run = strings.TrimSpace(regexp.MustCompile(`--mount=\S+`).ReplaceAllString(run, ""))
	if run == "" {
		t.Fatal("no RUN … go build in the Dockerfile")
	}
	for _, tc := range []struct {
		arch, variant string
		machine       elf.Machine
		goarm         string
	}{
		{"arm", "v7", elf.EM_ARM, "7"},
		{"arm", "v6", elf.EM_ARM, "6"}, // Go's own default is 7: this one shows the variant is used
		{"arm64", "", elf.EM_AARCH64, ""},
	} {
		t.Run(tc.arch+tc.variant, func(t *testing.T) {
			out := t.TempDir()
			script := strings.ReplaceAll(run, "/out/", out+"/")
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH="+tc.arch, "TARGETVARIANT="+tc.variant,
				"VERSION=v0.0.0-dockerfile", "COMMIT=dockerfilecommit", "DATE=2026-12-01T00:00:00Z", "GOARM=")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", script, err, b)
			}
			bin := filepath.Join(out, "spotify-token-proxy")
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Errorf("ELF machine %v, want %v", f.Machine, tc.machine)
			}
			goVersion := exec.Command("go", "version", "-m", bin)
			info, err := goVersion.Output()
			if err != nil {
				t.Fatal(err)
			}
			if tc.goarm != "" && !strings.Contains(string(info), "GOARM="+tc.goarm) {
				t.Errorf("build settings lack GOARM=%s:\n%s", tc.goarm, info)
			}
			if !strings.Contains(string(info), "CGO_ENABLED=0") {
				t.Errorf("build settings lack CGO_ENABLED=0:\n%s", info)
			}
			if _, err := os.Stat(filepath.Join(out, "data")); err != nil {
				t.Errorf("the build stage makes no data directory: %v", err)
			}
		})
	}
}

// TestOneGoVersion: the Dockerfile's Go image is a patch release of the Go that
// go.mod names, so the image, the release and a developer build use one Go.
func TestOneGoVersion(t *testing.T) {
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)(\.\d+)?$`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	image := regexp.MustCompile(`(?m)^ARG GO_IMAGE=golang:(\d+\.\d+)\.(\d+)`).FindStringSubmatch(readRepoFile(t, "Dockerfile"))
	if goLine == nil || image == nil {
		t.Fatalf("go.mod go line %v, Dockerfile GO_IMAGE %v: not found", goLine, image)
	}
	if goLine[1] != image[1] {
		t.Errorf("go.mod says go %s, the Dockerfile builds with golang:%s.%s", goLine[1], image[1], image[2])
	}
	if own := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readRepoFile(t, "deploy/deploycheck/go.mod")); own == nil || !strings.HasPrefix(own[1], goLine[1]) {
		t.Errorf("deploy/deploycheck/go.mod go line %v, want go %s", own, goLine[1])
	}
}

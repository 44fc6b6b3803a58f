package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The -X flags a release sets (Makefile, Dockerfile, .goreleaser.yaml); checked here
// by building with them and reading them back.
const buildinfoPkg = "github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo"

const (
	testVersion = "v9.8.7-crossbuild"
	testCommit  = "c0ffee0123456789"
	testDate    = "2026-12-01T01:02:03Z"
)

func releaseLDFlags() string {
	return "-s -w -X " + buildinfoPkg + ".version=" + testVersion +
		" -X " + buildinfoPkg + ".commit=" + testCommit +
		" -X " + buildinfoPkg + ".date=" + testDate
}

// buildProxy compiles the proxy for goos/goarch (goarm for 32-bit ARM) without cgo.
func buildProxy(t *testing.T, goos, goarch, goarm string, ldflags string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "spotify-token-proxy-"+goarch+goarm)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOARM="+goarm)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=%s GOARCH=%s GOARM=%s go build: %v\n%s", goos, goarch, goarm, err, b)
	}
	return out
}

// runVersion runs bin --version (through an emulator when given) and checks that it
// prints the version, commit and date set at link time.
func runVersion(t *testing.T, emulator, bin, wantPlatform string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := []string{bin, "--version"}
	if emulator != "" {
		argv = append([]string{emulator}, argv...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	got := strings.TrimSpace(stdout.String())
	for _, want := range []string{"spotify-token-proxy " + testVersion, "commit " + testCommit, "built " + testDate, wantPlatform} {
		if !strings.Contains(got, want) {
			t.Errorf("%s printed %q, want it to contain %q", strings.Join(argv, " "), got, want)
		}
	}
}

// TestVersionFromLinker: a host build with the release's -X flags prints them.
func TestVersionFromLinker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildProxy(t, runtime.GOOS, runtime.GOARCH, "", releaseLDFlags())
	runVersion(t, "", bin, runtime.GOOS+"/"+runtime.GOARCH)
}

// TestARMBuilds builds the Raspberry Pi targets (linux/arm64 and 32-bit linux/arm/v7)
// with CGO_ENABLED=0, checks the ELF machine and the recorded build settings, and runs
// each binary's --version under qemu user-mode emulation (Debian's qemu-user-static,
// which .ci/run installs).
func TestARMBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles two binaries")
	}
	for _, tc := range []struct {
		goarch, goarm string
		machine       elf.Machine
		class         elf.Class
		qemu          string
		platform      string
	}{
		{"arm64", "", elf.EM_AARCH64, elf.ELFCLASS64, "qemu-aarch64-static", "linux/arm64"},
		{"arm", "7", elf.EM_ARM, elf.ELFCLASS32, "qemu-arm-static", "linux/arm/v7"},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			bin := buildProxy(t, "linux", tc.goarch, tc.goarm, releaseLDFlags())
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != tc.machine || f.Class != tc.class || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Errorf("ELF machine %v class %v osabi %v, want %v %v", f.Machine, f.Class, f.OSABI, tc.machine, tc.class)
			}
			if interp := f.Section(".interp"); interp != nil {
				t.Errorf("binary has an ELF interpreter: not static")
			}
			f.Close()
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			want := map[string]string{"GOOS": "linux", "GOARCH": tc.goarch, "CGO_ENABLED": "0"}
			if tc.goarm != "" {
				want["GOARM"] = tc.goarm
			}
			for k, v := range want {
				if settings[k] != v {
					t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
				}
			}
			qemu, err := exec.LookPath(tc.qemu)
			if err != nil {
				t.Fatalf("%s not found: install Debian's qemu-user-static (apt-get install qemu-user-static) to run the %s binary", tc.qemu, tc.platform)
			}
			runVersion(t, qemu, bin, tc.platform)
		})
	}
}

package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func toolchainRecord(mainVersion string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/spotify-token-proxy/spotify-token-proxy", Version: mainVersion}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestLinkerValuesWin(t *testing.T) {
	bi := toolchainRecord("v0.0.1", "vcs.revision", "fromvcs", "vcs.time", "2020-01-01T00:00:00Z", "GOOS", "linux", "GOARCH", "arm64")
	got := resolve("v1.2.3", "0123abc", "2026-12-01T00:00:00Z", bi)
	want := Info{Version: "v1.2.3", Commit: "0123abc", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.26.8", Platform: "linux/arm64"}
	if got != want {
		t.Fatalf("resolve = %+v, want %+v", got, want)
	}
	if s := got.String(); s != "spotify-token-proxy v1.2.3 (commit 0123abc, built 2026-12-01T00:00:00Z, go1.26.8 linux/arm64)" {
		t.Fatalf("String() = %q", s)
	}
}

func TestFallsBackToToolchainRecord(t *testing.T) {
	bi := toolchainRecord("v1.4.0", "vcs.revision", "89abcdef", "vcs.time", "2026-11-30T12:00:00Z", "vcs.modified", "true",
		"GOOS", "linux", "GOARCH", "arm", "GOARM", "7")
	got := resolve("", "", "", bi)
	want := Info{Version: "v1.4.0", Commit: "89abcdef-dirty", Date: "2026-11-30T12:00:00Z", GoVersion: "go1.26.8", Platform: "linux/arm/v7"}
	if got != want {
		t.Fatalf("resolve = %+v, want %+v", got, want)
	}
}

func TestNothingRecorded(t *testing.T) {
	for _, bi := range []*debug.BuildInfo{nil, toolchainRecord("(devel)")} {
		got := resolve("", "", "", bi)
		if got.Version != "dev" || got.Commit != Unknown || got.Date != Unknown {
			t.Errorf("resolve(%v) = %+v, want dev/unknown/unknown", bi, got)
		}
		if got.GoVersion == "" || !strings.Contains(got.Platform, "/") {
			t.Errorf("resolve(%v) = %+v: want the running toolchain and platform", bi, got)
		}
	}
}

func TestGetInTestBinary(t *testing.T) {
	// A test binary has no linker values; Get must still answer in full.
	s := String()
	if !strings.HasPrefix(s, "spotify-token-proxy ") || strings.Contains(s, "()") {
		t.Fatalf("String() = %q", s)
	}
}

package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker (-X …/internal/buildinfo.version=…); empty when not.
var (
	version string
	commit  string
	date    string
)

// Unknown stands for a value neither the linker nor the toolchain recorded.
const Unknown = "unknown"

// Info describes one build.
type Info struct {
	Version   string // release version, e.g. v1.2.3; "dev" for an untagged build
	Commit    string // git commit, "-dirty" appended when the tree had changes
	Date      string // build or commit time, RFC 3339
	GoVersion string // toolchain, e.g. go1.26.8
	Platform  string // GOOS/GOARCH of the binary
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// String is Get().String().
func String() string { return Get().String() }

// String is the one-line form printed by --version:
// "spotify-token-proxy v1.2.3 (commit 0123abc, built 2026-12-01T00:00:00Z, go1.26.8 linux/arm64)".
func (i Info) String() string {
	return fmt.Sprintf("spotify-token-proxy %s (commit %s, built %s, %s %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}

// resolve prefers the linker's values and falls back to the toolchain's record (bi may
// be nil: a binary built without module support).
func resolve(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) Info {
	i := Info{Version: ldVersion, Commit: ldCommit, Date: ldDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if i.Commit == "" && settings["vcs.revision"] != "" {
			i.Commit = settings["vcs.revision"]
			if settings["vcs.modified"] == "true" {
				i.Commit += "-dirty"
			}
		}
		if i.Date == "" {
			i.Date = settings["vcs.time"]
		}
		if os, arch := settings["GOOS"], settings["GOARCH"]; os != "" && arch != "" {
			i.Platform = os + "/" + arch
			if v := settings["GOARM"]; arch == "arm" && v != "" {
				i.Platform += "/v" + v
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = Unknown
	}
	if i.Date == "" {
		i.Date = Unknown
	}
	return i
}

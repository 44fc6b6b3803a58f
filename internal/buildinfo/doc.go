// Package buildinfo says which build of the proxy is running: its version, the commit
// it was built from and when, for `--version`, the start-up log line and support
// requests.
//
// A release sets the three with the linker:
//
//	go build -ldflags "-X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo.version=v1.2.3 \
//	  -X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo.commit=0123abc \
//	  -X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo.date=2026-12-01T00:00:00Z" ./cmd/spotify-token-proxy
//
// (the Makefile, the Dockerfile and .goreleaser.yaml do). Without them — a plain
// `go build` in a git checkout, or `go install module@version` — the values come from
// what the Go toolchain records in the binary: the module version, vcs.revision and
// vcs.time. Missing values read "dev" or "unknown".
package buildinfo

// Package deploycheck tests the single-host installs and the release configuration
// without a container engine or a systemd host: deploy/compose (loaded and validated
// with compose-go, the library Docker Compose itself uses), deploy/systemd (the unit's
// hardening, `systemd-analyze verify` and its offline security score), .goreleaser.yaml
// (targets, checksums, SBOM, images) and the Dockerfile's cross-compilation (its build
// command run with sh for each target platform). Each environment it finds is also
// loaded with the proxy's own config package, so a Compose file or environment template
// that the proxy would refuse fails here.
//
// It is a module of its own so that compose-go stays out of the proxy's go.mod; `make
// test` runs it (deploy/check.sh).
package deploycheck

#!/usr/bin/env bash
# make dist: check .goreleaser.yaml and build a snapshot release into dist/ (archives
# for linux/darwin/windows × amd64/arm64 and linux/arm/v7, checksums.txt, an SPDX SBOM
# per archive). Images are skipped: they need a container engine with buildx
# (`goreleaser release --snapshot --clean` builds them where there is one).
#
# GoReleaser and syft are installed on first use into bin/ with `go install` at the
# versions below (each ≈ 5 min cold on 2 cores); later runs reuse them.
set -euo pipefail

GORELEASER_VERSION=v2.15.1
SYFT_VERSION=v1.57.1

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/bin"
cd "$REPO"

log() { printf '==> %s\n' "$*" >&2; }

ensure_tool() { # name module@version
  local name=$1 mod=$2
  if [[ ! -x "$BIN/$name" || "$(cat "$BIN/.$name.version" 2>/dev/null)" != "$mod" ]]; then
    log "installing $mod into $BIN"
    mkdir -p "$BIN"
    GOBIN="$BIN" go install "$mod"
    echo "$mod" > "$BIN/.$name.version"
  fi
}

ensure_tool goreleaser "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
ensure_tool syft "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
export PATH="$BIN:$PATH"

# GoReleaser reads the commit, its date and the remote from git; without a remote (a
# local clone or worktree) it would drop all three. Name the project's repository for
# this run only (the git config is not changed).
if ! git ls-remote --get-url >/dev/null 2>&1 || [[ "$(git ls-remote --get-url 2>/dev/null)" == origin ]]; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
    GIT_CONFIG_VALUE_0=https://github.com/spotify-token-proxy/spotify-token-proxy.git
fi

log "goreleaser check"
goreleaser check
log "goreleaser release --snapshot (no images, nothing signed or published)"
goreleaser release --snapshot --clean --skip=docker,sign

# What a release must hold: every archive, its SBOM and checksum, and binaries that
# report the snapshot's version, commit and date.
go run ./scripts/distcheck dist

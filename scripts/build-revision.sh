#!/usr/bin/env bash
# build-revision.sh REV DIR: builds spotify-token-proxy as of git revision REV into
# DIR/spotify-token-proxy, for measuring it beside the working tree (make bench BASELINE=REV).
set -euo pipefail
rev=$1 out=$2
src=$(mktemp -d "${TMPDIR:-/tmp}/spotify-token-proxy-rev.XXXXXX")
trap 'rm -rf "$src"' EXIT
git archive "$rev" | tar -x -C "$src"
mkdir -p "$out"
out=$(cd "$out" && pwd)
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/spotify-token-proxy" ./cmd/spotify-token-proxy)
echo "built $(git rev-parse --short "$rev") into $out/spotify-token-proxy"

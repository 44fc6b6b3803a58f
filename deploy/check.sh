#!/usr/bin/env bash
# Offline checks of the single-host installs and the release configuration (no
# container engine, no systemd host needed): go vet + go test in deploy/deploycheck, a
# module of its own so that compose-go stays out of the proxy's go.mod. See its doc.go.
#
#   deploy/check.sh            what `make test` runs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/deploycheck"
command -v systemd-analyze >/dev/null || {
  echo "deploy/check.sh: systemd-analyze not found; install Debian's systemd package (apt-get install systemd)" >&2
  exit 1
}
go vet ./...
go test -count=1 ./...

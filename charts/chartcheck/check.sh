#!/usr/bin/env bash
# Offline validation of the Helm chart and the Dockerfile (no cluster, no container engine).
#
#   charts/chartcheck/check.sh          lint + docs check + Go tests (what CI runs)
#   charts/chartcheck/check.sh lint     helm lint --strict and helm template, every mode
#   charts/chartcheck/check.sh docs     regenerate charts/spotify-token-proxy/README.md
#   charts/chartcheck/check.sh docs-check   fail if README.md is not what helm-docs makes
#   charts/chartcheck/check.sh test     go vet + go test in charts/chartcheck
#   (several may be given: check.sh lint docs-check)
#
# Tools are installed on first use into $REPO/bin with `go install` through the Go module
# proxy (helm ≈ 4 min cold on 2 cores, helm-docs ≈ 1 min); later runs reuse them.
set -euo pipefail

HELM_VERSION=v3.22.0
HELM_DOCS_VERSION=v1.14.2
KUBE_VERSION=1.33.0

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHART="$REPO/charts/spotify-token-proxy"
CHECK="$REPO/charts/chartcheck"
BIN="$REPO/bin"

# No cluster here: make any accidental cluster access fail fast, and keep helm's
# config and cache out of $HOME.
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
export KUBECONFIG="$TMP/no-kubeconfig"
export HELM_CONFIG_HOME="$TMP/helm/config" HELM_CACHE_HOME="$TMP/helm/cache" HELM_DATA_HOME="$TMP/helm/data"

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

helm_bin() { ensure_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; echo "$BIN/helm"; }
helm_docs_bin() { ensure_tool helm-docs "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION"; echo "$BIN/helm-docs"; }

# The values an install cannot do without (credentials and a store for two replicas).
REQUIRED=(--set spotify.clientId=ci-client-id --set spotify.clientSecret=ci-client-secret --set redis.url=redis://redis:6379/0)

lint() {
  local helm; helm="$(helm_bin)"
  local failed=0 f
  log "helm lint --strict: defaults + required values"
  "$helm" lint --strict --kube-version "$KUBE_VERSION" "$CHART" "${REQUIRED[@]}" || failed=1
  "$helm" template lint-check "$CHART" --kube-version "$KUBE_VERSION" "${REQUIRED[@]}" > "$TMP/defaults.yaml" || failed=1
  for f in "$CHART"/ci/*.yaml; do
    log "helm lint --strict + helm template: ci/$(basename "$f")"
    "$helm" lint --strict --kube-version "$KUBE_VERSION" "$CHART" -f "$f" || failed=1
    "$helm" template lint-check "$CHART" --kube-version "$KUBE_VERSION" -f "$f" > "$TMP/$(basename "$f")" || failed=1
  done
  log "helm template must refuse two replicas without a token store"
  if "$helm" template lint-check "$CHART" --kube-version "$KUBE_VERSION" \
      --set spotify.clientId=x --set spotify.clientSecret=y > /dev/null 2> "$TMP/nostore.err"; then
    echo "rendered without a token store" >&2; failed=1
  elif ! grep -q "a shared token store is required" "$TMP/nostore.err"; then
    cat "$TMP/nostore.err" >&2; failed=1
  fi
  return $failed
}

docs() {
  local docs; docs="$(helm_docs_bin)"
  log "helm-docs $HELM_DOCS_VERSION → $CHART/README.md"
  (cd "$REPO/charts" && "$docs" --chart-search-root spotify-token-proxy --log-level warning)
}

docs_check() {
  local docs; docs="$(helm_docs_bin)"
  log "README.md is current (helm-docs $HELM_DOCS_VERSION)"
  cp -r "$CHART" "$TMP/spotify-token-proxy"
  (cd "$TMP" && "$docs" --chart-search-root spotify-token-proxy --log-level warning)
  if ! diff -u "$CHART/README.md" "$TMP/spotify-token-proxy/README.md"; then
    echo "charts/spotify-token-proxy/README.md is stale: run charts/chartcheck/check.sh docs" >&2
    return 1
  fi
}

gotest() {
  log "go vet + go test (charts/chartcheck)"
  (cd "$CHECK" && go vet ./... && go test -count=1 ./...)
}

[[ $# -gt 0 ]] || set -- all
for cmd in "$@"; do
  case "$cmd" in
    lint) lint ;;
    docs) docs ;;
    docs-check) docs_check ;;
    test) gotest ;;
    all) lint; docs_check; gotest ;;
    *) echo "usage: $0 [all|lint|docs|docs-check|test]..." >&2; exit 2 ;;
  esac
done
log "ok"

# Container image for spotify-token-proxy.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t spotify-token-proxy .
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t spotify-token-proxy .
#
# Stage 1 compiles a static binary with the official Go image on the machine's own
# platform ($BUILDPLATFORM) and cross-compiles for the image's ($TARGETOS/$TARGETARCH,
# GOARM from $TARGETVARIANT): a multi-arch build needs no emulation. Stage 2 is distroless
# static (no shell, no package manager) running as the nonroot user (65532).
# Both base images carry explicit tags, never `latest`; for reproducible builds pin
# them by digest too, e.g. --build-arg RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:…
# The invariants of this file are checked by charts/chartcheck/dockerfile_test.go.

ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
ARG TARGETVARIANT
# Build facts shown by `spotify-token-proxy --version` (internal/buildinfo).
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
# Modules first, so source edits do not invalidate the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    if [ "$TARGETARCH" = arm ]; then export GOARM="${TARGETVARIANT#v}"; fi \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo.version=${VERSION} -X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo.commit=${COMMIT} -X github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo.date=${DATE}" \
      -o /out/spotify-token-proxy ./cmd/spotify-token-proxy \
 && mkdir -p /out/data

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="spotify-token-proxy" \
      org.opencontainers.image.description="Reverse proxy for the Spotify Web API that injects fresh OAuth tokens" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/spotify-token-proxy /usr/local/bin/spotify-token-proxy
# Writable home for the embedded file store when no volume is mounted (docker run).
COPY --from=build --chown=65532:65532 /out/data /data
# The binary defaults to 127.0.0.1; in a container the listeners must face the pod network.
ENV LISTEN_ADDR=0.0.0.0:8080 \
    ADMIN_ADDR=0.0.0.0:9090 \
    TOKEN_FILE=/data/tokens.json
USER 65532:65532
# 8080: the proxy; 9090: /healthz, /readyz, /metrics, /admin/v1, /auth.
EXPOSE 8080 9090
# No shell or curl here: the binary checks its own /readyz (exit 0 ready, 1 not).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/spotify-token-proxy", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/spotify-token-proxy"]

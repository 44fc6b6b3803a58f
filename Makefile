# spotify-token-proxy — the README's commands.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)
BUILDINFO := github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo
LDFLAGS  := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)
BIN      := bin
# tools the Makefile installs (pinned versions)
TOOLS    := $(BIN)/tools
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)
# loadbench flags; -gogc adds the file-store proxy with that GOGC (the memory/CPU trade-off)
BENCH_FLAGS ?= -rounds 5 -gogc 400
# bench: also measure the proxy built from this git revision in the same run (e.g. BASELINE=HEAD~1)
BASELINE ?=

.PHONY: help build run demo test test-short lint bench chaos soak chart-lint chart-docs docker dist clean

## build: bin/spotify-token-proxy (the proxy and its CLI) and bin/spotify-emulator
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/spotify-token-proxy ./cmd/spotify-token-proxy
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/spotify-emulator ./cmd/spotify-emulator

## run: the proxy against the real Spotify (needs SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET)
run: build
	@if [ -z "$$SPOTIFY_CLIENT_ID" ] || [ -z "$$SPOTIFY_CLIENT_SECRET$$SPOTIFY_CLIENT_SECRET_FILE" ]; then \
	  echo "make run talks to the real Spotify and needs SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"; \
	  echo "(from https://developer.spotify.com/dashboard). To try the proxy without an account: make demo"; \
	  exit 2; fi
	$(BIN)/spotify-token-proxy

## demo: the proxy (8080, admin 9090) in front of the bundled Spotify emulator (8090) with default, alice and bob linked; stays up until Ctrl-C
demo: build
	./scripts/demo.sh

## test: everything CI runs (unit, real redis-server standalone and cluster, end to end, arm builds under qemu, chart, Compose, systemd, release config, vet)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	./charts/chartcheck/check.sh
	./deploy/check.sh

## test-short: unit tests only
test-short:
	$(GO) test -race -short ./...

## chaos: the chaos suite, long form (real redis-server, emulator, 3 replicas, load; ~10 min); see chaos/doc.go
chaos:
	CHAOS_DURATION=full $(GO) test -count=1 -v -run TestChaos -timeout 30m ./chaos/

## chaos-short: the chaos suite's short form (~2 min), as `make test` runs it
.PHONY: chaos-short
chaos-short:
	CHAOS_DURATION=short $(GO) test -count=1 -v -run TestChaos -timeout 10m ./chaos/

## bench: load harness against baselines (wrk and nginx used when installed); see BENCHMARKS.md
bench: build
	$(GO) build -o $(BIN)/bench-upstream ./bench/upstream
	$(GO) build -o $(BIN)/bench-bareproxy ./bench/bareproxy
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./proxy/ ./metrics/
	@if [ -n "$(BASELINE)" ]; then ./scripts/build-revision.sh "$(BASELINE)" $(BIN)/baseline; fi
	$(GO) run ./bench/loadbench -bin $(BIN) $(BENCH_FLAGS) $(if $(BASELINE),-baseline-bin $(BIN)/baseline/spotify-token-proxy -baseline-name "$(BASELINE)")
	$(GO) run ./bench/storm
	$(GO) run ./bench/scale

## soak: the whole stack under load with 10 s tokens; goroutines and memory must stay flat
DURATION ?= 2m
soak:
	SOAK_DURATION=$(DURATION) $(GO) test -count=1 -v -run TestSoak -timeout 0 ./proxy/

## lint: gofmt (fails on any file it lists), go vet and staticcheck; CI runs it before test
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# staticcheck at a pinned version, installed once into $(TOOLS); a new version gets a new file.
$(STATICCHECK):
	GOBIN=$(abspath $(TOOLS)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/staticcheck $@

## chart-lint: helm lint --strict and helm template for every mode, chart README current
chart-lint:
	./charts/chartcheck/check.sh lint docs-check

## chart-docs: regenerate charts/spotify-token-proxy/README.md from the values comments
chart-docs:
	./charts/chartcheck/check.sh docs

## dist: goreleaser check + a snapshot release in dist/ (archives, checksums, SBOMs; no images), then checked
dist:
	./scripts/dist.sh

## docker: the container image spotify-token-proxy:$(VERSION)
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t spotify-token-proxy:$(VERSION) .

## clean: remove bin/
clean:
	rm -rf $(BIN)

## help: this list (every target, from its ## comment)
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); i = index($$0, ":"); printf "  make %-12s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }' $(firstword $(MAKEFILE_LIST))

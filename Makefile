# tfocol — build, run and test the distribution.
#   make run    build if needed, start the gateway on loopback (data under ./data)
#   make test   unit tests under -race, then e2e tests (the e2e tests drive bin/tfocol)

GO        ?= go
# The collector version lives in builder-config.yaml only (internal/buildinfo/versions_test.go checks the rest).
OCB_VER   := $(shell sed -n 's|.*gomod: go.opentelemetry.io/collector/receiver/otlpreceiver \(v[0-9.]*\).*|\1|p' builder-config.yaml)
OCB       ?= $(shell $(GO) env GOPATH)/bin/builder
DIST      := distributions/tfocol
BIN       := bin/tfocol
# Build identity stamped into the binary (internal/buildinfo; the heartbeat receiver reports it).
BUILD_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BUILD_TIME   := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS      := -s -w -X github.com/tfocol/tfocol/internal/buildinfo.Commit=$(BUILD_COMMIT) -X github.com/tfocol/tfocol/internal/buildinfo.Time=$(BUILD_TIME)
# The module mirror's checksum DB lacks some contrib entries; go.sum pins their hashes instead.
export GONOSUMDB := github.com/open-telemetry/opentelemetry-collector-contrib

# Everything the binary is built from; make rebuilds only when one of these is newer than the binary.
BUILD_INPUTS := $(shell find . -path ./data -prune -o -path ./bin -prune -o -path ./tests -prune -o -path ./internal/e2etest -prune -o -path ./cmd/tfocol-bench -prune -o -path ./.git -prune -o \
	\( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print)

.PHONY: build run test test-unit test-race test-e2e test-reliability validate lint generate clean bench bench-workspaces

build: $(BIN)

$(BIN): $(BUILD_INPUTS)
	@mkdir -p bin
	@# The lock serialises concurrent builds (parallel test runs); the rename keeps running binaries intact.
	flock bin/.build.lock sh -c 'cd $(DIST) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(LDFLAGS)" -o ../../$(BIN).tmp . && mv ../../$(BIN).tmp ../../$(BIN)'

# Regenerate the ocb sources (components.go, main.go, go.mod) after editing builder-config.yaml.
# run.go replaces ocb's main_others.go so that our subcommands join the collector's command.
generate: $(OCB)
	$(OCB) --config builder-config.yaml --skip-compilation
	rm -f $(DIST)/main_others.go
	gofmt -w $(DIST)/*.go
	cd $(DIST) && $(GO) mod tidy

$(OCB):
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VER)

run: build
	@./scripts/run-gateway.sh

# Unit tests (under the race detector) and e2e tests; the reliability suite (tests/reliability) has its own
# target. Both parts always run, so one failing run reports everything. The e2e tests drive bin/tfocol (built
# without cgo), so -race would only slow them.
test: build
	@rc=0; $(MAKE) --no-print-directory test-unit || rc=1; $(MAKE) --no-print-directory test-e2e || rc=1; exit $$rc

# Every package but tests/, under the race detector: it needs cgo and a C compiler (gcc, libc6-dev; .ci/run
# installs them when missing). On 2 cores, with the build cache warm, ~1.5 min with or without -race (the
# receipt exporter's ~80 s dominates); from a cold cache, building for -race adds about 1 min.
test-unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /tests/)

# The former name of test-unit.
test-race: test-unit

test-e2e: build
	$(GO) test -count=1 -timeout 30m ./tests/e2e/...

# Reliability suite (bad input, slow/dead upstream, replay storm, gateway crashes; ~2-3 min), then every
# `func Fuzz*` under components/ and internal/ for FUZZTIME each, one after the other (~1-2 min); both parts
# always run. A crasher fails the run and stays in the package's testdata/fuzz/ as a regression input for
# `go test`. The budget is a count of executions, not a duration: with a duration, go1.26's fuzz coordinator
# can fail a clean run with "context deadline exceeded" when a busy worker misses the deadline
# (golang/go#75804, fixed in go1.27).
FUZZTIME ?= 100000x
test-reliability: build
	@rc=0; $(GO) test -count=1 -timeout 20m ./tests/reliability/... || rc=1; \
	fuzz=$$(grep -rn --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(' components internal | \
		sed -E 's|^(.*)/[^/]*_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*|./\1:\2|' | sort); \
	for t in $$fuzz; do pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || rc=1; done; \
	exit $$rc

# Every shipped config must pass `tfocol validate`, with the environment a deployment would set. Overlays
# (gateway-*.yaml, agent-*.yaml, and configs/overlays/*.yaml for the gateway) are validated on top of their base.
validate: build
	@set -e; set -a; . configs/validate.env; TFOCOL_CONFIG_DIR=$(CURDIR)/configs; set +a; for c in configs/*.yaml; do \
		case $$(basename $$c) in gateway-*) base="--config configs/gateway.yaml" ;; agent-*) base="--config configs/agent.yaml" ;; *) base= ;; esac; \
		echo "validate $$base $$c"; ./$(BIN) validate $$base --config $$c; done; for o in configs/overlays/*.yaml; do \
		echo "validate configs/gateway.yaml + $$o"; ./$(BIN) validate --config configs/gateway.yaml --config $$o; done

# staticcheck is pinned in tools/go.mod (a module of its own, so its dependencies never move the collector's).
STATICCHECK := $(GO) tool -modfile=$(CURDIR)/tools/go.mod staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd $(DIST) && $(GO) vet ./...
	$(STATICCHECK) ./...
	cd $(DIST) && $(STATICCHECK) ./...
	cd $(DIST) && $(GO) vet ./...

# Side-by-side benchmark of the gateway and the stock pipelines stock, durable and durable-sync (~16 min;
# BENCH_FLAGS=-quick for ~2 min). BENCH_GATEWAY: the gateway config to measure.
BENCH_GATEWAY ?= configs/gateway.yaml
# Every trace still goes through tail_sampling, but is forwarded, so the sink's count stays comparable with the
# stock peers (docs/benchmarks.md, "Trace sampling and the bench"); BENCH_SAMPLING= measures the shipped rules.
BENCH_SAMPLING ?= -gateway-env TFOCOL_SAMPLING_PERCENTAGE=100 -gateway-env TFOCOL_SAMPLING_DECISION_WAIT=1s
bench: build
	$(GO) run ./cmd/tfocol-bench -build=false -gateway $(BENCH_GATEWAY) $(BENCH_SAMPLING) $(BENCH_FLAGS)

# Workspace scaling of the gateway (not part of CI; ~5-10 min): docs/benchmarks.md.
BENCH_WORKSPACES ?= 100,2000,10000
bench-workspaces: build
	$(GO) run ./cmd/tfocol-bench -build=false -gateway $(BENCH_GATEWAY) $(BENCH_SAMPLING) -workspaces $(BENCH_WORKSPACES) $(BENCH_FLAGS)

clean:
	rm -rf bin

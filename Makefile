# Everything the project needs is built from pinned Go modules into bin/; nothing is
# installed by hand. `make demo` and `make test` are the two commands the README names.

SHELL         := /bin/bash
GO            ?= go
BIN           := $(CURDIR)/bin
VERSION       := 0.1.0
PULUMI_VERSION := v3.259.0
MODULE        := github.com/autodeploy-dev/pulumi-auto-deploy
LDFLAGS       := -X $(MODULE)/provider.Version=$(VERSION) -X $(MODULE)/relay.Version=$(VERSION)

# This machine's Go proxy serves pulumi modules whose checksums the checksum database
# reachable from here cannot confirm, so GONOSUMDB skips that lookup for them (the committed
# go.sum files still pin every hash), and -mod=mod lets go complete go.sum when a fresh
# module cache asks for a line it lacks instead of stopping. scripts/dist.sh sets the same.
export GONOSUMDB := github.com/pulumi
export GOFLAGS   := -mod=mod

PROVIDER  := $(BIN)/pulumi-resource-auto-deploy
EMULATOR  := $(BIN)/pulumi-cloud-emulator
RELAY     := $(BIN)/pulumi-auto-deploy-relay
GO_SOURCES := $(shell find provider cloud cmd emulator relay edge internal \( -name '*.go' -o -name '*.md' -o -name '*.js' \
	-o -name '*.css' -o -name '*.html' -o -name '*.svg' \) 2>/dev/null) go.mod go.sum

.PHONY: all tools build schema check-schema sdks check-sdks test test-unit test-e2e fuzz lint demo clean bench bench-scale

all: build schema

tools: $(BIN)/pulumi $(BIN)/pulumi-language-yaml

$(BIN)/pulumi: tools/pulumi/go.mod tools/pulumi/go.sum
	cd tools/pulumi && $(GO) build -o $@ \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

$(BIN)/pulumi-language-yaml: tools/yaml/go.mod tools/yaml/go.sum
	cd tools/yaml && $(GO) build -o $@ github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml

build: $(PROVIDER) $(EMULATOR) $(RELAY)

$(PROVIDER): $(GO_SOURCES)
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/pulumi-resource-auto-deploy

$(EMULATOR): $(GO_SOURCES)
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/pulumi-cloud-emulator

# The cascade relay (docs/relay.md); pure Go (SQLite included), so CGO is off.
$(RELAY): $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/pulumi-auto-deploy-relay

# get-schema prints the built plugin's schema without its version, so schema.json only
# changes when the provider does.
get-schema = PULUMI_HOME=$(BIN)/.pulumi-home $(BIN)/pulumi package get-schema $(PROVIDER) \
	| python3 -c 'import json,sys; s=json.load(sys.stdin); s.pop("version",None); print(json.dumps(s,indent=2))'

schema: $(PROVIDER) $(BIN)/pulumi
	$(get-schema) > schema.json

# Fails when the committed schema.json no longer matches the provider.
check-schema: $(PROVIDER) $(BIN)/pulumi
	@tmp=$$(mktemp); $(get-schema) > $$tmp; \
	if ! diff -u schema.json $$tmp; then echo "schema.json is stale: run 'make schema' and commit it" >&2; rm $$tmp; exit 1; fi; rm $$tmp

# The SDKs in sdk/ are generated from schema.json by pulumi's own code generators, called
# directly because `pulumi package gen-sdk` needs language hosts these machines cannot
# fetch: tools/sdkgen for Node.js, Python and Go, and tools/yaml/dotnetgen for C#, whose
# generator only exists in the older pulumi that module pins. They carry $(VERSION).
SDKGEN    := $(BIN)/pulumi-auto-deploy-sdkgen
DOTNETGEN := $(BIN)/pulumi-auto-deploy-dotnetgen
# What building or installing an SDK leaves in sdk/: not generated, so not compared.
SDK_BUILD_OUTPUT := -x node_modules -x bin -x obj -x package-lock.json -x build -x dist \
	-x '*.egg-info' -x __pycache__

$(SDKGEN): tools/sdkgen/go.mod tools/sdkgen/go.sum $(wildcard tools/sdkgen/*.go)
	cd tools/sdkgen && $(GO) build -o $@ .

$(DOTNETGEN): tools/yaml/go.mod tools/yaml/go.sum $(wildcard tools/yaml/dotnetgen/*.go)
	cd tools/yaml && $(GO) build -o $@ ./dotnetgen

# gen-sdks writes all four SDKs into the directory $(1), replacing what each held.
gen-sdks = $(SDKGEN) -schema schema.json -out $(1) -lang nodejs,python,go -version $(VERSION) && \
	$(DOTNETGEN) -schema schema.json -out $(1)/dotnet -logo tools/sdkgen/logo.png -version $(VERSION)

sdks: schema.json $(SDKGEN) $(DOTNETGEN)
	$(call gen-sdks,sdk)

# Fails when sdk/ differs from what schema.json generates: stale, or edited by hand.
check-sdks: schema.json $(SDKGEN) $(DOTNETGEN)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(call gen-sdks,$$tmp/sdk) && \
	if ! diff -r $(SDK_BUILD_OUTPUT) sdk $$tmp/sdk; then \
		echo "sdk/ does not match schema.json: run 'make sdks' and commit sdk/ (never edit it by hand)" >&2; \
		exit 1; \
	fi

test: tools build browser-deps postgres-deps lint check-schema check-sdks test-unit fuzz test-browser test-e2e

# golangci-lint, pinned in tools/lint like the other tools; takes a few minutes to build cold.
GOLANGCI_LINT := $(BIN)/golangci-lint

$(GOLANGCI_LINT): tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

# go vet under every combination of build tags the project uses, then golangci-lint with
# .golangci.yml (tags e2e and bench) over this module. gofmt also checks what golangci-lint
# does not load: the example programs and the tools, each a module of its own.
lint: $(GOLANGCI_LINT)
	@unformatted=$$(gofmt -l provider cmd emulator relay deploy internal bench examples tools/sdkgen tools/yaml/dotnetgen tools/lint); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./examples/... ./bench/... ./internal/... ./deploy/...
	$(GO) vet -tags "e2e bench" ./examples/... ./bench/... ./internal/...
	$(GOLANGCI_LINT) run ./...

# The relay's tests run a second time on PostgreSQL (a throwaway server per test), since its SQL
# must hold on both.
test-unit: postgres-deps
	$(GO) test -race -count=1 -timeout 10m ./...
	RELAY_TEST_DB=postgres $(GO) test -race -count=1 -timeout 10m ./relay/

# The browser tests drive Debian's Chromium (Playwright's and puppeteer's own browser downloads
# fail on these machines). browser-deps installs it when it is missing, as root, without sudo.
.PHONY: browser-deps test-browser
CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@if [ ! -x "$(CHROMIUM)" ]; then apt-get update && apt-get install -y chromium; fi

# The relay's PostgreSQL tests (internal/pgtest) start throwaway clusters of Debian's server, as
# the postgres user the package creates; postgres-deps installs it when it is missing. CI=true makes
# a missing server fail those tests instead of skipping them.
.PHONY: postgres-deps
postgres-deps:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		apt-get update && apt-get install -y postgresql; fi

# The emulator console and the relay's status page (during a running cascade) in headless Chromium;
# CI=true makes a missing browser fail the tests instead of skipping them. They leave screenshots in
# bin/console.png and bin/relay-status.png; `RELAY_STATUS_SCREENSHOT=$PWD/docs/relay-status.png
# make test-browser` renews the one docs/relay.md shows.
test-browser: browser-deps build
	CI=true $(GO) test -race -count=1 -timeout 5m -run '^TestConsoleInBrowser$$' -v ./emulator/consoletest/
	CI=true $(GO) test -race -count=1 -timeout 5m -run '^TestStatusPageInBrowser$$' -v ./relay/statustest/

# Each fuzz target runs for FUZZTIME; go test -fuzz takes one target per run.
FUZZTIME ?= 10s
fuzz:
	for target in FuzzParseStackRef FuzzValidatePayloadURL FuzzWebhookID; do \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./provider/ || exit 1; \
	done

test-e2e: tools build dist-host postgres-deps
	AUTO_DEPLOY_BIN=$(BIN) AUTO_DEPLOY_DIST=$(DIST_HOST) $(GO) test -tags e2e -count=1 -timeout 30m ./examples/... ./bench/... \
		./deploy/...
	AUTO_DEPLOY_BIN=$(BIN) $(GO) test -tags e2e -count=1 -timeout 10m -run '^Test(Relay|Scenario)' ./relay/

# Benchmarks (BENCHMARKS.md): graphs of stacks through the real CLI against the emulator.
# bench (trees of 6 and 301 stacks, every way, 20 ms and 0 ms of added API latency) takes
# about 5 minutes on 2 cores. bench-scale (the 2,000-stack tree and the 2,000-stack layered
# DAG as DeploymentGraphs, the tree as AutoDeployers, 10,000 edges) is not part of CI; its
# four 2,000-stack DeploymentGraphs alone take 4 to 5 minutes, and BENCH_ONLY selects.
# Both print progress per phase and a markdown report, also written to bin/.
# TestBenchSmoke runs the same harness in test-e2e. bench then measures the cascade relay's
# added latency per level of the 301-stack tree (TestBenchRelayLatency, under a minute).
BENCH_TEST := $(GO) test -tags "e2e bench" -count=1 -run '^TestBench$$' -v

bench: tools build
	AUTO_DEPLOY_BIN=$(BIN) BENCH_OUT=$(BIN)/bench-results.md $(BENCH_TEST) -timeout 60m ./bench/
	AUTO_DEPLOY_BIN=$(BIN) BENCH_RELAY_OUT=$(BIN)/bench-relay-results.md \
		$(GO) test -tags "e2e bench" -count=1 -run '^TestBenchRelayLatency$$' -v -timeout 30m ./bench/
	@echo "reports written to $(BIN)/bench-results.md and $(BIN)/bench-relay-results.md"

bench-scale: tools build postgres-deps
	AUTO_DEPLOY_BIN=$(BIN) BENCH_SCALE=1 BENCH_OUT=$(BIN)/bench-scale-results.md $(BENCH_TEST) -timeout 240m ./bench/
	$(bench-relay-scale)
	@echo "reports written to $(BIN)/bench-scale-results.md and $(BIN)/bench-relay-scale-results.md"

# The cascade relay over the 2,000-stack layered DAG (TestBenchRelayScale, 2 to 3 minutes per
# database): SQLite, and PostgreSQL beside it (a throwaway server; BENCH_RELAY_DB=postgres://… names
# an empty database instead, BENCH_RELAY_DB=sqlite skips it). bench-scale runs it last;
# bench-relay-scale runs it alone.
.PHONY: bench-relay-scale
bench-relay-scale = AUTO_DEPLOY_BIN=$(BIN) BENCH_RELAY_SCALE_OUT=$(BIN)/bench-relay-scale-results.md \
	$(GO) test -tags "e2e bench" -count=1 -run '^TestBenchRelayScale$$' -v -timeout 60m ./bench/
bench-relay-scale: build postgres-deps
	$(bench-relay-scale)
	@echo "report written to $(BIN)/bench-relay-scale-results.md"

# The relay's soak (TestBenchRelaySoak, BENCHMARKS.md): 30 minutes of one root update a second over 200
# stacks with 429s and 503s injected, two replicas on PostgreSQL (a throwaway server), one killed with
# SIGKILL and started again every 5 minutes, then the checks (about 32 minutes in all). Not part of CI;
# TestRelaySoakSmoke runs the same harness for 80 seconds in test-e2e. BENCH_RELAY_SOAK_DURATION
# shortens it, BENCH_RELAY_DB=postgres://… names an empty database, BENCH_RELAY_SOAK_LOGS a directory
# for the replicas' logs.
.PHONY: bench-relay-soak
bench-relay-soak: build postgres-deps
	AUTO_DEPLOY_BIN=$(BIN) BENCH_RELAY_SOAK_OUT=$(BIN)/bench-relay-soak-results.md \
		$(GO) test -tags "e2e bench" -count=1 -run '^TestBenchRelaySoak$$' -v -timeout 60m ./bench/
	@echo "report written to $(BIN)/bench-relay-soak-results.md"

# Release tarballs for `pulumi plugin install` (--server or --file) and of the cascade relay,
# one per OS/arch, plus dist/SHA256SUMS; see scripts/dist.sh for the layout.
.PHONY: dist dist-host
dist:
	VERSION=$(VERSION) LDFLAGS='$(LDFLAGS)' GO=$(GO) DIST=$(CURDIR)/dist ./scripts/dist.sh

# This machine's plugin tarball alone, laid out as in dist/ with a SHA256SUMS of its own, which
# the e2e tests and the demo install the plugin from. It lives in bin/ so that dist/ only ever
# holds a whole release, and is rebuilt only when what goes into it changes.
DIST_HOST := $(BIN)/dist-host
dist-host: $(DIST_HOST)/SHA256SUMS

$(DIST_HOST)/SHA256SUMS: $(GO_SOURCES) README.md $(wildcard LICENSE) scripts/dist.sh Makefile
	VERSION=$(VERSION) LDFLAGS='$(LDFLAGS)' GO=$(GO) DIST=$(DIST_HOST) PLATFORMS=host COMPONENTS=plugin ./scripts/dist.sh

demo: tools build dist-host
	VERSION=$(VERSION) GO=$(GO) DIST=$(DIST_HOST) ./scripts/demo.sh

clean:
	rm -rf $(BIN) dist

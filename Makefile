# Everything the project needs is built from pinned Go modules into bin/; nothing is
# installed by hand. `make demo` and `make test` are the two commands the README names.

SHELL         := /bin/bash
GO            ?= go
BIN           := $(CURDIR)/bin
VERSION       ?= 0.1.0
PULUMI_VERSION := v3.259.0
MODULE        := github.com/autodeploy-dev/pulumi-auto-deploy
LDFLAGS       := -X $(MODULE)/provider.Version=$(VERSION)

# Some pulumi modules are missing from the checksum database reachable here; the
# committed go.sum files still pin every hash.
export GONOSUMDB := github.com/pulumi
export GOFLAGS   := -mod=mod

PROVIDER  := $(BIN)/pulumi-resource-auto-deploy
EMULATOR  := $(BIN)/pulumi-cloud-emulator
GO_SOURCES := $(shell find provider cmd emulator -name '*.go' -o -name '*.md' 2>/dev/null) go.mod go.sum

.PHONY: all tools build schema check-schema test test-unit test-e2e lint demo clean

all: build schema

tools: $(BIN)/pulumi $(BIN)/pulumi-language-yaml

$(BIN)/pulumi: tools/pulumi/go.mod tools/pulumi/go.sum
	cd tools/pulumi && $(GO) build -o $@ \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

$(BIN)/pulumi-language-yaml: tools/yaml/go.mod tools/yaml/go.sum
	cd tools/yaml && $(GO) build -o $@ github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml

build: $(PROVIDER) $(EMULATOR)

$(PROVIDER): $(GO_SOURCES)
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/pulumi-resource-auto-deploy

$(EMULATOR): $(GO_SOURCES)
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/pulumi-cloud-emulator

# schema.json comes from the built plugin, without the version so it only changes when
# the provider does.
schema: $(PROVIDER) $(BIN)/pulumi
	PULUMI_HOME=$(BIN)/.pulumi-home $(BIN)/pulumi package get-schema $(PROVIDER) \
		| python3 -c 'import json,sys; s=json.load(sys.stdin); s.pop("version",None); print(json.dumps(s,indent=2))' \
		> schema.json

# Fails when the committed schema.json no longer matches the provider.
check-schema: $(PROVIDER) $(BIN)/pulumi
	@tmp=$$(mktemp); PULUMI_HOME=$(BIN)/.pulumi-home $(BIN)/pulumi package get-schema $(PROVIDER) \
		| python3 -c 'import json,sys; s=json.load(sys.stdin); s.pop("version",None); print(json.dumps(s,indent=2))' \
		> $$tmp; if ! diff -u schema.json $$tmp; then echo "schema.json is stale: run 'make schema' and commit it" >&2; rm $$tmp; exit 1; fi; rm $$tmp

test: tools build check-schema test-unit test-e2e

test-unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m ./...

test-e2e: tools build
	$(GO) vet -tags e2e ./examples/...
	AUTO_DEPLOY_BIN=$(BIN) $(GO) test -tags e2e -count=1 -timeout 30m ./examples/...

demo: tools build
	./scripts/demo.sh

clean:
	rm -rf $(BIN) dist

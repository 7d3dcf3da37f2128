# Sluice: make demo (one-command quickstart), make test (everything CI runs).
SHELL := /bin/bash
GO      ?= go
BIN     ?= bin/sluice
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build deps test unit integration lint fuzz demo bench microbench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

# Installs the PostgreSQL, MariaDB and MySQL servers, Apache Kafka and the
# schema registry for the integration tests (idempotent; fast when present).
deps:
	bash scripts/install-deps.sh

# Unit tests, then the integration tests against real servers. The
# longest integration tests mostly wait (kills, slow links, timeouts) and
# are marked parallel: three of them run at once.
test: deps lint
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)
	$(GO) test -count=1 -timeout 25m -parallel 3 -v ./integration/... 2>&1 | \
	  grep -E --line-buffered -v '^=== (RUN|PAUSE|CONT)|^\s+--- PASS' ; exit $${PIPESTATUS[0]}

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

integration: deps
	$(GO) test -count=1 -timeout 25m -parallel 3 -v ./integration/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Short fuzzing of every decoder of untrusted bytes.
FUZZTIME ?= 20s
FUZZ_PKGS ?= ./schema/ ./changes/ ./capture/mysql/ ./capture/postgres/ ./checkpoint/ ./snapshot/
fuzz:
	@for p in $(FUZZ_PKGS); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
	    echo "fuzz $$p $$f"; \
	    $(GO) test $$p -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; done; done

# A throwaway Postgres, Sluice on the embedded broker and registry, a few
# changes, the events printed.
demo: build
	bash scripts/demo.sh $(BIN)

bench: build deps
	$(GO) run ./bench $(BENCHFLAGS)

# go test micro-benchmarks of the encoder and the decoders (and goavro
# encoding the encoder's record, for comparison); the output is kept in
# bench/results/micro.txt and compared by benchstat with the file as last
# committed (HEAD), so that a regression shows.
MICRO_PKGS ?= ./schema/ ./capture/postgres/ ./internal/pipeline/ ./capture/mysql/
BENCHSTAT_VERSION ?= v0.0.0-20260908200009-22c9c6c9d4da
microbench:
	@set -o pipefail; old=$$(mktemp); \
	  git show HEAD:bench/results/micro.txt > $$old 2>/dev/null || : > $$old; \
	  $(GO) test -run '^$$' -bench . -benchmem -count 5 $(MICRO_PKGS) | tee bench/results/micro.txt || { rm -f $$old; exit 1; }; \
	  echo; echo "benchstat: bench/results/micro.txt as committed (old) against this run (new)"; \
	  $(GO) run golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION) old=$$old new=bench/results/micro.txt; \
	  rc=$$?; rm -f $$old; exit $$rc

clean:
	rm -rf bin

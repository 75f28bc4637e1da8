# flowkv — make run serves on embedded SQLite; make test sets up and runs every test.
GO      ?= go
BIN     := bin/flowkv
PKGS    := ./...

.PHONY: build run test bench lint generate torture soak fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/flowkv

run: build
	./$(BIN) serve

# test starts what the tests need (PostgreSQL test database, DynamoDB Local,
# headless Chromium) when it is absent, then runs every test with -race.
test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh

# Reliability harnesses (RELIABILITY.md): linearizability, crash safety,
# contention and abuse against a real `flowkv serve` on loopback; a 30-minute
# soak; every fuzz target. QUICK=1, DURATION=2m, FUZZTIME=5m adjust them.
torture:
	bash scripts/torture.sh

soak:
	bash scripts/soak.sh

fuzz:
	bash scripts/fuzz.sh

# lint: formatting, vet, a tidy go.mod/go.sum, staticcheck (a tool in go.mod,
# so its version is pinned with the module) and Redocly's OpenAPI linter on
# the served /v1/openapi.json (installed from npm on first use). make test
# runs it first.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	@! git grep -n 'DESIGN\.md' || (echo "cite docs/design.md: the design lives in the repository"; exit 1)
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff
	$(GO) tool staticcheck $(PKGS)
	bash scripts/lint-openapi.sh

# generate: templ components (templ is a tool in go.mod, `go tool templ`),
# and the KV Connect protobuf code (Debian's protobuf-compiler + protoc-gen-go,
# a go.mod tool; apt-get install protobuf-compiler when protoc is missing).
generate:
	$(GO) tool templ generate -path templates
	protoc --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" --go_out=. --go_opt=paths=source_relative kvconnect/pb/datapath.proto

clean:
	rm -rf bin .cache/dynamodb

# The README's two commands: `make demo` and `make test`. Both do their own
# set-up on a fresh machine that has Go (and, for the cross-checks, Node and
# the Google Cloud CLI, which this project's machine image ships).

GO ?= go

.PHONY: demo test deps vet build bench clean

demo:
	$(GO) run ./cmd/gcptoken demo

# Peers for the cross-check suite: Node's google-auth-library, pinned by
# crosscheck/node/package-lock.json.
deps:
	@if [ ! -f crosscheck/node/package-lock.json ]; then \
		:; \
	elif command -v npm >/dev/null 2>&1; then \
		cd crosscheck/node && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the Node cross-checks will be skipped (and fail under CI=true)"; \
	fi

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/gcptoken ./cmd/gcptoken

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

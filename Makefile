# The README's two commands: `make demo` and `make test`. Both do their own
# set-up on a fresh machine that has Go (and, for the cross-checks, Node and
# the Google Cloud CLI, which this project's machine image ships).

GO ?= go

# The repository is a Go workspace (go.work): the library is the root
# module, kept lean for programs that import it (a test bounds its module
# graph); the CLI (internal/cli, cmd/gcptoken) and the test-heavy parts
# (crosscheck, deploy, the image builder, kubetest) are nested modules with
# their own dependencies. PKGS names every package of every module but
# kubetest, which has a target of its own.
PKGS = ./... ./internal/cli/... ./cmd/gcptoken/... ./crosscheck/... ./deploy/... ./internal/tools/mkimage/...

.PHONY: demo test deps vet build bench clean fuzz soak image manifests conformance census kubetest

demo:
	$(GO) run ./cmd/gcptoken demo

# Peers for the cross-check suite: Node's google-auth-library, pinned by
# crosscheck/node/package-lock.json. And Debian's headless Chromium for the
# browser sign-in test (internal/cli/login_browser_test.go); where it cannot
# be installed that test skips, or fails under CI=true.
deps:
	@if [ ! -f crosscheck/node/package-lock.json ]; then \
		:; \
	elif command -v npm >/dev/null 2>&1; then \
		cd crosscheck/node && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the Node cross-checks will be skipped (and fail under CI=true)"; \
	fi
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get) for the browser sign-in test"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; } || \
		echo "could not install chromium: the browser sign-in test will be skipped (and fail under CI=true)"; \
	fi

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	cd crosscheck/gapic && GOWORK=off $(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 $(PKGS)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/gcptoken ./cmd/gcptoken

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The conformance matrix (crosscheck/conformance_test.go, also part of
# `make test`): flows x Google's own clients, unmodified, against the fake
# under Google's real host names through the emulator's HTTPS proxy. Verbose
# log, then the table (kept in bin/conformance.md).
conformance: deps
	@mkdir -p bin
	CONFORMANCE_REPORT=$(CURDIR)/bin/conformance.md $(GO) test -count=1 -run '^TestConformance$$' -v ./crosscheck/; \
	status=$$?; echo; cat bin/conformance.md 2>/dev/null; exit $$status

# The endpoint census (crosscheck/census_test.go, also part of `make test`):
# every Google URL in the installed sources of Google's clients, served by
# the fake through its HTTPS proxy or listed out of scope in
# fakegoogle/notserved.go. Failures, then the table (kept in
# bin/census.md).
census: deps
	@mkdir -p bin
	CENSUS_REPORT=$(CURDIR)/bin/census.md $(GO) test -count=1 -run '^(TestEndpointCensus|TestDiscoveryServed)$$' ./crosscheck/; \
	status=$$?; cat bin/census.md 2>/dev/null; exit $$status

# Container image without a daemon: a static linux binary packed FROM scratch
# by internal/tools/mkimage into bin/gcptoken-image.tar (`docker load -i` or
# `podman load -i`). Reproducible: timestamps come from SOURCE_DATE_EPOCH
# (default 0). The CA bundle, when the build machine has one, lets the
# image reach Google over TLS.
IMAGE_TAG ?= gcptoken:dev
CA_CERTS ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
image:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "-s -w -buildid=" -o bin/linux/gcptoken ./cmd/gcptoken
	$(GO) run ./internal/tools/mkimage -binary bin/linux/gcptoken -out bin/gcptoken-image.tar -tag $(IMAGE_TAG) \
		-version $(patsubst gcptoken:%,%,$(IMAGE_TAG)) -revision "$$(git rev-parse HEAD 2>/dev/null)" \
		$(if $(CA_CERTS),-ca-certs $(CA_CERTS))

# Kubernetes manifests: re-render deploy/ with kustomize, compare with the
# golden files in deploy/rendered/ and validate them with kubeconform against
# schemas generated from the Kubernetes OpenAPI spec (offline; from the Go
# module cache). `make manifests UPDATE=1` rewrites the golden files.
manifests:
	$(GO) test -count=1 ./deploy/ $(if $(UPDATE),-args -update)

# Every FuzzXxx target in the module (including ones added later), each for
# FUZZTIME. A failure leaves its input in <package>/testdata/fuzz/<FuzzXxx>/,
# which plain `go test` then replays as a regression test: commit it with
# the fix. Go 1.26's fuzz coordinator can report a bare "context deadline
# exceeded" when FUZZTIME ends (golang/go#75804, fixed in Go 1.27); that is
# not a crasher and does not fail the run.
FUZZTIME ?= 10s
fuzz:
	@targets=$$($(GO) test -list '^Fuzz' $(PKGS) | awk '/^Fuzz/ {f[n++] = $$1} /^ok / {for (i = 0; i < n; i++) print $$2 "=" f[i]; n = 0}'); \
	if [ -z "$$targets" ]; then echo "no fuzz targets found"; exit 1; fi; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $$targets; do \
		pkg=$${t%%=*}; name=$${t#*=}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		if $(GO) test "$$pkg" -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) >"$$log" 2>&1; then :; \
		elif grep -q 'Failing input written to' "$$log" || ! grep -qx '    context deadline exceeded' "$$log"; then \
			cat "$$log"; exit 1; \
		else echo "  (stopped by Go's fuzztime deadline race, golang/go#75804: no failing input)"; fi; \
		grep -E 'elapsed: .*execs' "$$log" | tail -1; \
	done

# Load and soak: the metadata server and the auth proxy under 200
# concurrent clients while the fake injects a 20% upstream error rate and
# 500 ms latency spikes. SOAKTIME=60s is the full run; CI runs a short one
# as a test (internal/soak).
SOAKTIME ?= 60s
soak:
	$(GO) run ./internal/soak/cmd/soak -duration $(SOAKTIME) -clients 200

# Tests against a real kube-apiserver and etcd (./kubetest, a nested module
# that `go test ./...` above does not enter). The first run on a machine
# builds both servers from source through the Go module proxy into the user
# cache directory (kube-apiserver takes minutes); kubetest-build does that
# before the tests so that their timeout covers only the tests.
kubetest:
	cd kubetest && $(GO) run ./cmd/kubetest-build >/dev/null
	cd kubetest && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 15m ./...

clean:
	rm -rf bin

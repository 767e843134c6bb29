# imr — build, test, demo, bench. `make test` is what CI runs; it installs what is missing.
SWIFT      ?= swift
PREFIX     ?= /usr/local
DESTDIR    ?=
PROTO      := proto/imr.proto
WIRE_DIR   := Sources/IMRWireC
# python3-protobuf: Google's protobuf for Debian's /usr/bin/python3, the wire vectors' independent checker.
# postgresql: the PostgreSQL store's tests start a private server (initdb in a temporary folder).
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf libsqlite3-dev pkg-config valgrind gcc g++ binutils postgresql
# The servers and the MQTT client library of `make bench-relay` only (make test never installs them).
BENCH_APT_PACKAGES := nats-server mosquitto libmosquitto-dev
# The Python with python3-protobuf (Tests/Vectors/vectors.py; the Swift tests use the same).
VECTOR_PYTHON ?= /usr/bin/python3

.PHONY: all build deps deps-bench bench-relay docs test test-swift proto proto-check vectors bench bench-abi bench-compare bench-instructions demo soak clean lib install test-abi test-examples test-header check-abi test-c test-install test-python

# The C ABI library (make lib): version from the header, SONAME libimr.so.MAJOR.
imr_version_part = $(shell sed -n 's/^\#define IMR_VERSION_$(1) \([0-9][0-9]*\).*/\1/p' include/imr.h)
LIB_MAJOR   := $(call imr_version_part,MAJOR)
LIB_VERSION := $(LIB_MAJOR).$(call imr_version_part,MINOR).$(call imr_version_part,PATCH)
LIB_DIR     := build/lib
LIB_REAL    := libimr.so.$(LIB_VERSION)
LIB_SONAME  := libimr.so.$(LIB_MAJOR)
LIB_SCRATCH := .build-lib
LIB_BUILT   := $(LIB_SCRATCH)/release/libimr.so
ABI_SYMBOLS := bindings/tools/abi-symbols.sh

all: build

# Install the Debian packages the build and the tests need, only when something is missing.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The same, for the packages of `make bench-relay`.
deps-bench:
	@missing=""; \
	for p in $(BENCH_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

test: deps test-swift test-abi test-fuzz docs

# Every check of the C ABI and its bindings.
test-abi: test-header check-abi test-c test-install test-python test-examples

# The header alone compiles as C99, C11 and C++17, warning-free and pedantic.
HEADER_CFLAGS := -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only
test-header:
	@for cc in gcc clang; do command -v $$cc >/dev/null || continue; \
	  for std in c99 c11; do \
	    echo '#include "imr.h"' | $$cc -std=$$std $(HEADER_CFLAGS) -x c - || exit 1; \
	    echo "  imr.h: $$cc -std=$$std ok"; done; done
	@for cxx in g++ clang++; do command -v $$cxx >/dev/null || continue; \
	  echo '#include "imr.h"' | $$cxx -std=c++17 $(HEADER_CFLAGS) -x c++ - || exit 1; \
	  echo "  imr.h: $$cxx -std=c++17 ok"; done

# Exported symbols = IMR_API declarations = the Python table; error codes, versions and
# shared constants agree across C, Swift and Python.
check-abi: lib
	IMR_LIBRARY=$(CURDIR)/$(LIB_DIR)/$(LIB_SONAME) python3 bindings/tools/check_abi.py

# The C ABI tests under valgrind (no errors, no leaks).
test-c: lib
	$(MAKE) -C bindings/c check

# `make install` into a staging DESTDIR, then the C tests built through pkg-config
# against the installed copy and run from it.
STAGE := $(CURDIR)/build/stage
test-install: lib
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(STAGE) PREFIX=/usr/local
	test -L $(STAGE)/usr/local/lib/libimr.so && test -L $(STAGE)/usr/local/lib/$(LIB_SONAME)
	readelf -d $(STAGE)/usr/local/lib/$(LIB_REAL) | grep -q 'SONAME.*\[$(LIB_SONAME)\]'
	PKG_CONFIG_PATH=$(STAGE)/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(STAGE) \
	  $(MAKE) --no-print-directory -C bindings/c IMR_PKG=1 BUILD=build/pkg build/pkg/test_abi
	LD_LIBRARY_PATH=$(STAGE)/usr/local/lib bindings/c/build/pkg/test_abi
	@! ldd bindings/c/build/pkg/test_abi | grep -q '$(CURDIR)/build/lib' || { echo "linked the in-tree library"; exit 1; }

# The C and asyncio chat examples talking to each other through a real relay over TCP.
test-examples: lib
	$(SWIFT) build --product imrctl
	$(MAKE) --no-print-directory -C bindings/c build/imr-chat-c
	python3 bindings/tools/examples_test.py --imrctl .build/debug/imrctl --c-chat bindings/c/build/imr-chat-c \
	  --library $(LIB_DIR)/$(LIB_SONAME)

# The Python package installed into a private venv (pytest added only if missing),
# tested against the fresh in-tree library.
PYENV := build/pyenv
test-python: lib
	$(SWIFT) build --product imrctl
	@[ -x $(PYENV)/bin/python ] || python3 -m venv --system-site-packages $(PYENV)
	@$(PYENV)/bin/python -m pytest --version >/dev/null 2>&1 || $(PYENV)/bin/python -m pip install -q pytest
	$(PYENV)/bin/python -m pip install -q --force-reinstall --no-deps ./bindings/python
	IMR_LIBRARY=$(CURDIR)/$(LIB_DIR)/$(LIB_SONAME) IMR_IMRCTL=$(CURDIR)/.build/debug/imrctl \
	  $(PYENV)/bin/python -m pytest -q bindings/python/tests

# The relay's socket and process tests run on their own, after the rest: beside the CPU-bound
# simulations, which hold every thread of Swift's cooperative pool for minutes, they waited
# for a thread past their time limits.
test-swift:
	$(SWIFT) test --skip '^RelayTests\.'
	$(SWIFT) test --skip-build --filter '^RelayTests\.'

# Regenerate the protobuf-c code from the schema (the tests check it has not drifted).
proto: deps
	protoc-c --c_out=$(WIRE_DIR) -Iproto $(PROTO)
	mv $(WIRE_DIR)/imr.pb-c.h $(WIRE_DIR)/include/imr.pb-c.h

# The main job: relay, lossy proxy and devices over real TCP; exits non-zero on any loss,
# duplicate or divergent history.
demo: deps
	$(SWIFT) build -c release --product imrctl
	.build/release/imrctl demo $(DEMO_ARGS)

# The deterministic simulator over 100,000 seeds (make test runs 2,000 in the Swift tests).
soak: deps
	$(SWIFT) build -c release --product imrctl
	.build/release/imrctl simulate --seeds 100000

# Fail when the committed protobuf-c code differs from a fresh generation (as the tests do).
proto-check: deps
	@tmp=$$(mktemp -d); \
	protoc-c --c_out=$$tmp -Iproto $(PROTO) \
	  && cmp $$tmp/imr.pb-c.c $(WIRE_DIR)/imr.pb-c.c \
	  && cmp $$tmp/imr.pb-c.h $(WIRE_DIR)/include/imr.pb-c.h; \
	status=$$?; rm -rf $$tmp; \
	if [ $$status -ne 0 ]; then echo "protobuf-c code differs from $(PROTO): run make proto"; exit 1; fi; \
	echo "protobuf-c code matches $(PROTO)"

# Rewrite the golden and malformed wire vectors (Tests/Vectors) from their definitions in
# Tests/Vectors/vectors.py, with Google's protobuf, and check them; then `swift test` checks
# that the Swift codec agrees.
vectors: deps
	$(VECTOR_PYTHON) Tests/Vectors/vectors.py generate
	$(VECTOR_PYTHON) Tests/Vectors/vectors.py check

bench: deps
	$(SWIFT) build -c release --product imrctl
	.build/release/imrctl bench
	$(MAKE) --no-print-directory bench-abi

# The relay beside NATS JetStream and mosquitto (Debian's, installed when missing), each
# started fresh per run, under one load generator in C (bindings/c/bench/relay_load):
# tables of medians and relay / peer ratios, a JSON line last. MESSAGES=N (main load,
# default 500,000), ROUNDS=N (default 3), PHASES=main,fanout,idle,catchup, QUICK=1 (smoke).
bench-relay: deps deps-bench lib
	$(SWIFT) build -c release --product imrctl
	$(MAKE) --no-print-directory -C bindings/c build/relay_load
	python3 bindings/tools/bench_relay.py --imrctl .build/release/imrctl --load bindings/c/build/relay_load \
	  $(if $(QUICK),--quick) $(if $(MESSAGES),--messages $(MESSAGES)) $(if $(ROUNDS),--rounds $(ROUNDS)) \
	  $(if $(PHASES),--phases $(PHASES))

# Two builds side by side (bindings/tools/compare_builds.py): the base revision (BASE, default
# HEAD) from a git worktree and the working tree, both with functions and branch targets
# aligned (code layout alone moved figures by up to 5%), run at once, one CPU each.
BASE ?= HEAD
COMPARE_DIR := .build-compare
ALIGNED := -Xswiftc -Xllvm -Xswiftc -align-all-functions=6 -Xswiftc -Xllvm -Xswiftc -align-all-nofallthru-blocks=5
bench-compare: deps
	rm -rf $(COMPARE_DIR)/src; git worktree prune
	git worktree add --detach $(COMPARE_DIR)/src $(BASE)
	$(SWIFT) build -c release --product imrctl --package-path $(COMPARE_DIR)/src --scratch-path $(COMPARE_DIR)/base $(ALIGNED)
	git worktree remove --force $(COMPARE_DIR)/src
	$(SWIFT) build -c release --product imrctl --scratch-path $(COMPARE_DIR)/head $(ALIGNED)
	python3 bindings/tools/compare_builds.py $(COMPARE_DIR)/base/release/imrctl $(COMPARE_DIR)/head/release/imrctl \
	  --rounds $(or $(ROUNDS),6) --only $(or $(ONLY),client)

# The cost of one send->ack cycle driven from C and from Python next to native Swift.
bench-abi: lib
	$(SWIFT) build -c release --product imrctl
	$(MAKE) --no-print-directory -C bindings/c build/send_ack
	python3 bindings/tools/bench_abi.py --imrctl .build/release/imrctl --c-bench bindings/c/build/send_ack \
	  --library $(LIB_DIR)/$(LIB_SONAME)

# Instructions per client send->ack cycle and per push handled (callgrind, through the C
# ABI): unlike times, they do not move with the load of a shared machine.
PHASE_STEPS ?= 20000
bench-instructions: lib
	$(MAKE) --no-print-directory -C bindings/c build/client_phases
	@for phase in send receive; do \
	  out=$$(valgrind --tool=callgrind --callgrind-out-file=build/callgrind.$$phase --toggle-collect=$${phase}_phase \
	    bindings/c/build/client_phases $$phase $(PHASE_STEPS) 2>&1) || { echo "$$out"; exit 1; }; \
	  total=$$(echo "$$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'); \
	  echo "$$phase: $$((total / $(PHASE_STEPS))) instructions per iteration ($(PHASE_STEPS) iterations; profile in build/callgrind.$$phase)"; \
	done

# libimr.so: the IMRABI product in release with the Swift runtime linked statically
# (SwiftPM's --static-swift-stdlib does not apply to dynamic libraries), exporting
# exactly the header's IMR_API functions (the package's version script,
# Sources/IMRABI/exports.map; check-abi compares the exports with the header), with SONAME
# libimr.so.MAJOR. Its own scratch path keeps the debug build intact.
lib: deps $(LIB_DIR)/imr.symbols
	@grep -q '^IMR_$(LIB_MAJOR) {' Sources/IMRABI/exports.map || \
	  { echo "error: Sources/IMRABI/exports.map must name the version node IMR_$(LIB_MAJOR)"; exit 1; }
	rm -f $(LIB_BUILT)
	$(SWIFT) build -c release --product imr --scratch-path $(LIB_SCRATCH) -Xswiftc -static-stdlib \
	  -Xlinker -soname=$(LIB_SONAME)
	# Debug info stripped: the toolchain's DWARF 5 is unreadable to valgrind 3.19, and
	# the symbols stay for backtraces.
	strip --strip-debug -o $(LIB_DIR)/$(LIB_REAL) $(LIB_BUILT)
	ln -sf $(LIB_REAL) $(LIB_DIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(LIB_DIR)/libimr.so
	@if ldd $(LIB_DIR)/$(LIB_REAL) | grep -q 'libswift'; then \
	  echo "error: $(LIB_REAL) needs a Swift runtime library:"; ldd $(LIB_DIR)/$(LIB_REAL); exit 1; fi
	@echo "built $(LIB_DIR)/$(LIB_REAL) (SONAME $(LIB_SONAME), $$(wc -l < $(LIB_DIR)/imr.symbols) exported functions)"

$(LIB_DIR)/imr.symbols: include/imr.h $(ABI_SYMBOLS)
	@mkdir -p $(LIB_DIR)
	$(ABI_SYMBOLS) include/imr.h > $@

# make install PREFIX=/usr/local DESTDIR=: the header, the library with its symlinks,
# and the pkg-config file.
install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/imr.h $(DESTDIR)$(PREFIX)/include/imr.h
	install -m 755 $(LIB_DIR)/$(LIB_REAL) $(DESTDIR)$(PREFIX)/lib/$(LIB_REAL)
	ln -sf $(LIB_REAL) $(DESTDIR)$(PREFIX)/lib/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(PREFIX)/lib/libimr.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIB_VERSION)|g' bindings/c/imr.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/imr.pc

clean:
	rm -rf .build build $(LIB_SCRATCH) $(COMPARE_DIR) $(FUZZ_SCRATCH)

# The DocC catalog of IMRCore (Sources/IMRCore/IMRCore.docc), as a static site in build/docs;
# broken links and unknown symbols are errors.
docs:
	$(SWIFT) package --allow-writing-to-directory build/docs generate-documentation --target IMRCore \
	  --output-path build/docs --transform-for-static-hosting --warnings-as-errors
	@echo "docs: build/docs (open build/docs/documentation/imrcore/index.html through a web server)"

# Coverage-guided fuzzing (Tests/Fuzz, README "Fuzzing"): libFuzzer targets for the frame
# decoder, the stream splitter and both engines (Swift, a package of their own so that
# `swift build` never builds them, with AddressSanitizer) and for the C ABI (clang with
# AddressSanitizer and UndefinedBehaviorSanitizer against libimr.so). `make fuzz` runs each
# for FUZZ_SECONDS, keeping what it finds in build/fuzz/campaign; `make test-fuzz` (part of
# `make test`) runs each for 20 s on the committed corpus and fails on any finding.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := decode splitter server client abi
FUZZ_SCRATCH := .build-fuzz
FUZZ_DIR     := build/fuzz
# SwiftPM's --sanitize=fuzzer links libFuzzer's main. AddressSanitizer is asked of swiftc in
# the same flag as the fuzzer (given as two flags, in whatever order SwiftPM writes them,
# the last one wins and ASan was sometimes lost), and of clang for the C targets. swiftc's
# -sanitize=fuzzer instruments no coverage in whole-module (release) builds: it is asked
# for explicitly.
FUZZ_SWIFT_FLAGS := --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address \
  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp,indirect-calls
# The toolchain's clang, which ships libFuzzer.
FUZZ_CC := $(dir $(shell command -v $(SWIFT)))clang
FUZZ_CFLAGS := -std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -fuse-ld=lld

.PHONY: fuzz test-fuzz fuzz-build

fuzz-build: deps lib
	$(SWIFT) build -c release --package-path Tests/Fuzz --scratch-path $(FUZZ_SCRATCH) $(FUZZ_SWIFT_FLAGS)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iinclude -o $(FUZZ_DIR)/fuzz-abi Tests/Fuzz/c/*.c \
	  -L$(LIB_DIR) -limr -Wl,-rpath,$(CURDIR)/$(LIB_DIR) -lm

# TARGET SECONDS WORKDIR for each target; fails after all have run if any found something.
define run_fuzz_targets
	@status=0; for t in $(FUZZ_TARGETS); do \
	  bin=$(FUZZ_SCRATCH)/release/fuzz-$$t; [ $$t = abi ] && bin=$(FUZZ_DIR)/fuzz-abi; \
	  Tests/Fuzz/run.sh $$t $(1) $$bin $(2) || status=1; \
	done; exit $$status
endef

fuzz: fuzz-build
	$(call run_fuzz_targets,$(FUZZ_SECONDS),$(FUZZ_DIR)/campaign)

test-fuzz: fuzz-build
	rm -rf $(FUZZ_DIR)/test
	$(call run_fuzz_targets,20,$(FUZZ_DIR)/test)

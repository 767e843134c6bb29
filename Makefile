# imr — build, test, demo, bench. `make test` is what CI runs; it installs what is missing.
SWIFT      ?= swift
PREFIX     ?= /usr/local
DESTDIR    ?=
PROTO      := proto/imr.proto
WIRE_DIR   := Sources/IMRWireC
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsqlite3-dev pkg-config valgrind

.PHONY: all build deps test test-swift proto bench demo soak clean lib install test-abi test-header test-symbols test-c test-python

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

build: deps
	$(SWIFT) build

test: deps test-swift test-abi

# Every check of the C ABI and its bindings.
test-abi: test-header test-symbols test-c test-python

test-swift:
	$(SWIFT) test

# Regenerate the protobuf-c code from the schema (the tests check it has not drifted).
proto: deps
	protoc-c --c_out=$(WIRE_DIR) -Iproto $(PROTO)
	mv $(WIRE_DIR)/imr.pb-c.h $(WIRE_DIR)/include/imr.pb-c.h

bench: deps
	$(SWIFT) build -c release --product imrctl
	.build/release/imrctl bench

# libimr.so: the IMRABI product in release with the Swift runtime linked statically
# (SwiftPM's --static-swift-stdlib does not apply to dynamic libraries), exporting
# exactly the header's IMR_API functions (linker version script generated from the
# header), with SONAME libimr.so.MAJOR. Its own scratch path keeps the debug build intact.
lib: deps $(LIB_DIR)/imr.map
	rm -f $(LIB_BUILT)
	$(SWIFT) build -c release --product imr --scratch-path $(LIB_SCRATCH) -Xswiftc -static-stdlib \
	  -Xlinker --version-script=$(CURDIR)/$(LIB_DIR)/imr.map -Xlinker -soname=$(LIB_SONAME)
	cp $(LIB_BUILT) $(LIB_DIR)/$(LIB_REAL)
	ln -sf $(LIB_REAL) $(LIB_DIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(LIB_DIR)/libimr.so
	@if ldd $(LIB_DIR)/$(LIB_REAL) | grep -q 'libswift'; then \
	  echo "error: $(LIB_REAL) needs a Swift runtime library:"; ldd $(LIB_DIR)/$(LIB_REAL); exit 1; fi
	@echo "built $(LIB_DIR)/$(LIB_REAL) (SONAME $(LIB_SONAME), $$(wc -l < $(LIB_DIR)/imr.symbols) exported functions)"

$(LIB_DIR)/imr.symbols: include/imr.h $(ABI_SYMBOLS)
	@mkdir -p $(LIB_DIR)
	$(ABI_SYMBOLS) include/imr.h > $@

$(LIB_DIR)/imr.map: $(LIB_DIR)/imr.symbols
	{ echo 'IMR_$(LIB_MAJOR) {'; echo '  global:'; sed 's/.*/    &;/' $<; echo '  local: *;'; echo '};'; } > $@

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
	rm -rf .build build $(LIB_SCRATCH)

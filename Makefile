# imr — build, test, demo, bench. `make test` is what CI runs; it installs what is missing.
SWIFT      ?= swift
PREFIX     ?= /usr/local
DESTDIR    ?=
PROTO      := proto/imr.proto
WIRE_DIR   := Sources/IMRWireC
# python3-protobuf: Google's protobuf for Debian's /usr/bin/python3, the wire vectors' independent checker.
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf libsqlite3-dev pkg-config valgrind
# The Python with python3-protobuf (Tests/Vectors/vectors.py; the Swift tests use the same).
VECTOR_PYTHON ?= /usr/bin/python3

.PHONY: all build deps test test-swift proto proto-check vectors bench demo soak clean

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

test: deps test-swift

test-swift:
	$(SWIFT) test

# Regenerate the protobuf-c code from the schema (the tests check it has not drifted).
proto: deps
	protoc-c --c_out=$(WIRE_DIR) -Iproto $(PROTO)
	mv $(WIRE_DIR)/imr.pb-c.h $(WIRE_DIR)/include/imr.pb-c.h

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

clean:
	rm -rf .build build

# imr — build, test, demo, bench. `make test` is what CI runs; it installs what is missing.
SWIFT      ?= swift
PREFIX     ?= /usr/local
DESTDIR    ?=
PROTO      := proto/imr.proto
WIRE_DIR   := Sources/IMRWireC
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsqlite3-dev pkg-config valgrind

.PHONY: all build deps test test-swift proto bench demo soak clean

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

bench: deps
	$(SWIFT) build -c release --product imrctl
	.build/release/imrctl bench

clean:
	rm -rf .build build

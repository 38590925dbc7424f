# libvirt-vxlan. `make test` is what CI runs; `sudo make install` puts vxlanctl on this host.
PREFIX ?= /usr/local
SWIFT ?= swift
CONFIG_DIR ?= /etc/libvirt-vxlan

.PHONY: all deps build release lint test demo install uninstall clean

all: build

deps:
	Scripts/install-dependencies

build: deps
	$(SWIFT) build

# Static Swift runtime: no toolchain needed on the host, and ~5 ms less start-up per run.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

# The style rules of .swift-format (no force unwraps or force tries, ordered imports...).
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

# Unit tests run anywhere; the namespace and overlay tests need root (they skip, and say
# so, without it). Nothing touches the host's own network namespace.
test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# A guest started with virsh in a sandboxed libvirtd, its VXLAN segment, a ping across
# the overlay to a second host, and the segment gone after the guest stops.
demo:
	Scripts/demo

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(CONFIG_DIR)
	install -m 0755 .build/release/vxlanctl $(DESTDIR)$(PREFIX)/bin/vxlanctl
	test -e $(DESTDIR)$(CONFIG_DIR)/vxlan.conf || install -m 0644 Samples/vxlan.conf $(DESTDIR)$(CONFIG_DIR)/vxlan.conf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/vxlanctl

clean:
	rm -rf .build

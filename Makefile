# libvirt-vxlan. `make test` is what CI runs; `make install-package` installs the product.
SWIFT ?= swift
CONFIG_DIR ?= /etc/libvirt-vxlan
# Seconds per fuzz target for `make fuzz`; Fuzz/run 600 for a long run.
FUZZ_SECONDS ?= 20

.PHONY: all deps build release lint test fuzz demo deb install-package install uninstall clean

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
	$(SWIFT) format lint --strict --recursive Sources Tests Benchmarks/HookBenchmark Package.swift

# Unit tests run anywhere; the namespace and overlay tests need root (they skip, and say
# so, without it). Nothing touches the host's own network namespace.
test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# libFuzzer + ASan on the XML readers and the configuration parser (Fuzz/README.md),
# built with swiftc into .build-fuzz/; fails on any crash and names the input.
fuzz: deps
	Fuzz/run $(FUZZ_SECONDS)

# A guest started with virsh in a sandboxed libvirtd, its VXLAN segment, a ping across
# the overlay to a second host, and the segment gone after the guest stops.
demo:
	Scripts/demo

# The Debian package, in .build/deb/ (Packaging/build-deb).
deb: deps
	Packaging/build-deb

# Build the .deb and install it: the hooks go in place and running libvirt daemons reload.
install-package: deb
	apt-get install -y "$$(ls -t $(CURDIR)/.build/deb/libvirt-vxlan_*.deb | head -1)"

# For hosts without dpkg: the package's files and its postinst, by hand.
install: release
	install -D -m 0755 .build/release/libvirt-vxlan-hook $(DESTDIR)/usr/libexec/libvirt-vxlan/libvirt-vxlan-hook
	install -D -m 0755 Hooks/reload-libvirt Hooks/apparmor-rule -t $(DESTDIR)/usr/libexec/libvirt-vxlan
	install -D -m 0755 .build/release/vxlanctl $(DESTDIR)/usr/bin/vxlanctl
	install -D -m 0644 Packaging/libvirt-vxlan-hook.8 $(DESTDIR)/usr/share/man/man8/libvirt-vxlan-hook.8
	test -e $(DESTDIR)$(CONFIG_DIR)/vxlan.conf || install -D -m 0644 Samples/vxlan.conf $(DESTDIR)$(CONFIG_DIR)/vxlan.conf
	test -n "$(DESTDIR)" || Hooks/postinst configure

uninstall:
	test -n "$(DESTDIR)" || Hooks/prerm remove
	rm -rf $(DESTDIR)/usr/libexec/libvirt-vxlan
	rm -f $(DESTDIR)/usr/bin/vxlanctl $(DESTDIR)/usr/share/man/man8/libvirt-vxlan-hook.8

clean:
	rm -rf .build

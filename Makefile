# libvirt-vxlan. `make install-package` installs the product; `make test` is what CI runs.
SWIFT ?= swift
CONFIG_DIR ?= /etc/libvirt-vxlan
# Release builds for the package and `make install` have a folder of their own, so that
# a package built while `swift test` holds .build does not wait for it.
RELEASE_SCRATCH ?= .build-deb
CC ?= cc
CFLAGS ?= -O2 -g
# Seconds per fuzz target for `make fuzz`; Fuzz/run 600 for a long run.
FUZZ_SECONDS ?= 20

.PHONY: all build-deps test-deps build release lint test fuzz demo deb install-package system-test \
	install uninstall clean

all: build

# What building the package needs (Debian's -dev packages, debhelper); `make test` adds
# the test tools (libvirtd, QEMU, FRR...), which a production host never needs.
build-deps:
	Scripts/install-dependencies build

test-deps:
	Scripts/install-dependencies test

build:
	$(SWIFT) build

# The Swift runtime is linked statically: no toolchain on the host, and less start-up
# per hook call. Man pages and shell completions are generated from vxlanctl itself.
release:
	$(SWIFT) build --scratch-path $(RELEASE_SCRATCH) -c release --static-swift-stdlib --product libvirt-vxlan-hook
	$(SWIFT) build --scratch-path $(RELEASE_SCRATCH) -c release --static-swift-stdlib --product vxlanctl
	Packaging/generate-docs $(RELEASE_SCRATCH)/release/vxlanctl $(RELEASE_SCRATCH)/docs
	# What libvirt executes: plain C that loads nothing but libc, answers the phases the
	# hook ignores and executes the Swift hook (installed as libvirt-vxlan-hook-worker)
	# for the others. Debian's hardening flags come through CFLAGS/LDFLAGS (debian/rules).
	mkdir -p $(RELEASE_SCRATCH)/launcher
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wall -Wextra -Werror $(LDFLAGS) Sources/hook-launcher/libvirt-vxlan-hook.c \
		-o $(RELEASE_SCRATCH)/launcher/libvirt-vxlan-hook

# The style rules of .swift-format (no force unwraps or force tries, ordered imports...).
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Benchmarks/HookBenchmark Package.swift

# Unit tests run anywhere; the namespace and overlay tests need root (they skip, and say
# so, without it). Nothing touches the host's own network namespace.
test: test-deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# libFuzzer + ASan on the XML readers and the configuration parser (Fuzz/README.md),
# built with swiftc into .build-fuzz/; fails on any crash and names the input.
fuzz: test-deps
	Fuzz/run $(FUZZ_SECONDS)

# A guest started with virsh in a sandboxed libvirtd, its VXLAN segment, a ping across
# the overlay to a second host, and the segment gone after the guest stops.
demo:
	Scripts/demo

# The Debian package (dpkg-buildpackage on debian/), moved to .build/deb/.
deb: build-deps
	Packaging/build-deb

# Build the .deb and install it: the hooks go in place and running libvirt daemons reload.
install-package: deb
	apt-get install -y "$$(ls -t $(CURDIR)/.build/deb/libvirt-vxlan_*.deb | head -1)"

# The package on a stock Debian 12 system (AppArmor enforcing) in a QEMU VM: Tests/System.
DEB ?=
system-test:
	Tests/System/run $(DEB)

# What the package installs, under DESTDIR (debian/rules calls this). Without DESTDIR, on
# a host without dpkg, it also runs the postinst: hooks in place, AppArmor, reload.
install: release
	install -D -m 0755 $(RELEASE_SCRATCH)/launcher/libvirt-vxlan-hook \
		$(DESTDIR)/usr/libexec/libvirt-vxlan/libvirt-vxlan-hook
	install -D -m 0755 $(RELEASE_SCRATCH)/release/libvirt-vxlan-hook \
		$(DESTDIR)/usr/libexec/libvirt-vxlan/libvirt-vxlan-hook-worker
	install -D -m 0755 Hooks/reload-libvirt Hooks/apparmor-rule -t $(DESTDIR)/usr/libexec/libvirt-vxlan
	# CloudStack's agent runs it as /usr/share/modifyvxlan.sh after `vxlanctl cloudstack enable`.
	install -D -m 0755 Packaging/modifyvxlan.sh -t $(DESTDIR)/usr/libexec/libvirt-vxlan
	install -D -m 0755 $(RELEASE_SCRATCH)/release/vxlanctl -t $(DESTDIR)/usr/bin
	install -D -m 0644 $(RELEASE_SCRATCH)/docs/vxlanctl.8 Packaging/libvirt-vxlan-hook.8 -t $(DESTDIR)/usr/share/man/man8
	install -D -m 0644 Packaging/vxlan.conf.5 -t $(DESTDIR)/usr/share/man/man5
	install -D -m 0644 $(RELEASE_SCRATCH)/docs/vxlanctl.bash $(DESTDIR)/usr/share/bash-completion/completions/vxlanctl
	install -D -m 0644 $(RELEASE_SCRATCH)/docs/_vxlanctl -t $(DESTDIR)/usr/share/zsh/vendor-completions
	install -D -m 0644 $(RELEASE_SCRATCH)/docs/vxlanctl.fish -t $(DESTDIR)/usr/share/fish/vendor_completions.d
	# The README and docs/, whose relative links still work there (debian/rules keeps .md uncompressed).
	install -D -m 0644 README.md -t $(DESTDIR)/usr/share/doc/libvirt-vxlan
	install -D -m 0644 docs/*.md -t $(DESTDIR)/usr/share/doc/libvirt-vxlan/docs
	install -D -m 0644 Samples/frr-evpn.conf Samples/domain-bridge.xml Samples/domain-openvswitch.xml \
		Samples/network-vxlan-5001.xml \
		Samples/prometheus-alerts.yml Samples/prometheus-alerts.test.yml Samples/grafana-dashboard.json \
		-t $(DESTDIR)/usr/share/doc/libvirt-vxlan/examples
	install -d $(DESTDIR)/etc/libvirt/hooks/qemu.d $(DESTDIR)/etc/libvirt/hooks/network.d
	# The conffile: the documented sample with every setting commented out, so a fresh
	# install runs on the defaults until the operator sets at least the underlay.
	test -e $(DESTDIR)$(CONFIG_DIR)/vxlan.conf || { install -d $(DESTDIR)$(CONFIG_DIR) && \
		sed -e 's/^\([a-z_]* = \)/# \1/' -e 's/^\[\(names\|metrics\)\]$$/# [\1]/' Samples/vxlan.conf \
		>$(DESTDIR)$(CONFIG_DIR)/vxlan.conf; }
	test -n "$(DESTDIR)" || debian/libvirt-vxlan.postinst configure

uninstall:
	test -n "$(DESTDIR)" || debian/libvirt-vxlan.prerm remove
	rm -rf $(DESTDIR)/usr/libexec/libvirt-vxlan $(DESTDIR)/usr/share/doc/libvirt-vxlan
	rm -f $(DESTDIR)/usr/bin/vxlanctl $(DESTDIR)/usr/share/man/man8/vxlanctl.8 \
		$(DESTDIR)/usr/share/man/man8/libvirt-vxlan-hook.8 $(DESTDIR)/usr/share/man/man5/vxlan.conf.5 \
		$(DESTDIR)/usr/share/bash-completion/completions/vxlanctl \
		$(DESTDIR)/usr/share/zsh/vendor-completions/_vxlanctl \
		$(DESTDIR)/usr/share/fish/vendor_completions.d/vxlanctl.fish

clean:
	rm -rf .build $(RELEASE_SCRATCH)

#!/bin/sh
# CloudStack's KVM agent runs /usr/share/modifyvxlan.sh (`vxlanctl cloudstack enable`
# links it here) with its arguments: -o add|delete -v VNI -p PIF -b BRIDGE [-6]. The hook
# worker answers them as `vxlanctl modifyvxlan` does, without vxlanctl's start-up cost.
exec /usr/libexec/libvirt-vxlan/libvirt-vxlan-hook-worker --cloudstack-agent "$@"

#!/bin/sh
# CloudStack's KVM agent runs /usr/share/modifyvxlan.sh (`vxlanctl cloudstack enable`
# links it here) with its arguments: -o add|delete -v VNI -p PIF -b BRIDGE [-6].
exec /usr/bin/vxlanctl modifyvxlan "$@"

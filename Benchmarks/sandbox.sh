# Sourced by Benchmarks/instructions and Benchmarks/hot-functions: builds the release
# hook, makes a network namespace with an underlay ul0 and a scratch folder with the
# configurations and guests those scripts run the hook on; both go away on exit.
#
# After sourcing: $hook (the C launcher libvirt runs, next to the Swift hook it executes
# for the phases it acts on: $worker, a link to $worker_binary), $ns, $work, guests first and second (VNI 5001) and
# third (5002);
# `hook_call GUEST OPERATION SUB [WRAPPER...]` runs the hook in the namespace on
# $work/GUEST.xml with its configuration and state in $work (multicast;
# `CONFIG=unicast.conf` for unicast); `executed_functions` lists what callgrind saw.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product libvirt-vxlan-hook >/dev/null
ns="lvxb-$$"
work=$(mktemp -d)
sandbox_cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap sandbox_cleanup EXIT
# As the package installs them: /usr/libexec/libvirt-vxlan/libvirt-vxlan-hook{,-worker}.
mkdir "$work/libexec"
hook=$work/libexec/libvirt-vxlan-hook
worker=$work/libexec/libvirt-vxlan-hook-worker
worker_binary=$(swift build -c release --static-swift-stdlib --show-bin-path)/libvirt-vxlan-hook
ln -s "$worker_binary" "$worker"
${CC:-cc} -O2 -Wall -Wextra -Werror Sources/hook-launcher/libvirt-vxlan-hook.c -o "$hook"
ip netns add "$ns"
ip -n "$ns" link add ul0 type veth peer name ul0p
ip -n "$ns" addr add 192.0.2.1/24 dev ul0
ip -n "$ns" link set ul0 up
printf 'underlay = "ul0"\n' >"$work/vxlan.conf"
printf 'underlay = "ul0"\nmode = "unicast"\nremotes = ["192.0.2.2", "192.0.2.3"]\n' >"$work/unicast.conf"
guest() {  # guest NAME NUMBER VNI
    printf "<domain type='qemu'><name>%s</name><uuid>00000000-0000-4000-8000-%012d</uuid><devices><interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-%s'/></interface></devices></domain>" "$1" "$2" "$3" >"$work/$1.xml"
}
guest first 1 5001
guest second 2 5001
guest third 3 5002
# hook_call GUEST OPERATION SUB [WRAPPER...]: the hook as libvirt calls it, under WRAPPER.
hook_call() {
    local name=$1 operation=$2 sub=$3
    shift 3
    ip netns exec "$ns" env LIBVIRT_VXLAN_CONFIG="$work/${CONFIG:-vxlan.conf}" LIBVIRT_VXLAN_STATE_DIR="$work/state" \
        "$@" "$hook" --kind qemu "$name" "$operation" "$sub" - <"$work/$name.xml"
}
# executed_functions CALLGRIND_OUT...: the function names the profiles saw, one per line,
# sorted (callgrind's "'2" recursion suffixes and unnamed addresses dropped).
executed_functions() {
    sed -nE 's/^c?fn=\([0-9]+\) (.*)$/\1/p' "$@" | sed -E "s/'[0-9]+$//" |
        grep -vE '^(0x[0-9a-f]+|\(below main\))$' | LC_ALL=C sort -u
}

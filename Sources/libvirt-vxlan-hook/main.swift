import Glibc
import HookRuntime

// Installed as /etc/libvirt/hooks/qemu.d/50-libvirt-vxlan and
// /etc/libvirt/hooks/network.d/50-libvirt-vxlan. Links no libvirt, no Foundation and no
// ArgumentParser: libvirt runs it synchronously about six times per guest start and stop.
// CloudStack's agent, which runs modifyvxlan.sh at every guest start and stop, gets the
// same lean start through /usr/libexec/libvirt-vxlan/modifyvxlan.sh (`AgentMain`).
let arguments = CommandLine.arguments
if arguments.count > 1, arguments[1] == AgentMain.flag {
    exit(AgentMain.run(Array(arguments.dropFirst(2))))
}
exit(HookMain.run(arguments))

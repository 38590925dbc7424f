import Glibc
import HookRuntime

// Installed as /etc/libvirt/hooks/qemu.d/50-libvirt-vxlan and
// /etc/libvirt/hooks/network.d/50-libvirt-vxlan. Links no libvirt, no Foundation and no
// ArgumentParser: libvirt runs it synchronously about six times per guest start and stop.
// CloudStack's agent, which runs modifyvxlan.sh at every guest start and stop, gets the
// same lean start through /usr/libexec/libvirt-vxlan/modifyvxlan.sh (`AgentMain`). A hook
// call that leaves a teardown pending starts the worker again as the reaper (`ReaperMain`).
let arguments = CommandLine.arguments
if arguments.count == 2, arguments[1] == ReaperMain.flag {
    exit(ReaperMain.run())
}
if arguments.count > 1, arguments[1] == AgentMain.flag {
    exit(AgentMain.run(Array(arguments.dropFirst(2))))
}
exit(HookMain.run(arguments))

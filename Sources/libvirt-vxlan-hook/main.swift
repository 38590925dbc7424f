import Glibc
import HookRuntime

// Installed as /etc/libvirt/hooks/qemu.d/50-libvirt-vxlan and
// /etc/libvirt/hooks/network.d/50-libvirt-vxlan. Links no libvirt, no Foundation and no
// ArgumentParser: libvirt runs it synchronously about six times per guest start and stop.
exit(HookMain.run(CommandLine.arguments))

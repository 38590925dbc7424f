import ArgumentParser
import Glibc
import HookRuntime
import HostNetwork
import Lifecycle
import VXLANCore

struct GarbageCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Reconcile recorded users with the kernel and remove unused segments.",
        discussion: """
            The hook records which guests and networks use each VNI under \
            /run/libvirt-vxlan. A guest that vanished without libvirt's release call (a \
            crash of libvirtd and QEMU together) stays recorded and keeps its segment. gc \
            forgets a recorded guest when none of its NICs is a port of the VNI's bridge and \
            the record is older than --grace seconds, then removes every segment of ours \
            that no user and no port holds. A bridge that still carries any port is kept. \
            Runs under each VNI's lock, so it is safe next to a running libvirtd.

            Example: vxlanctl gc
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: "Seconds a guest's record must have existed before gc may forget it.")
    var grace = 300

    @Flag(help: "Print each VNI's outcome as JSON instead of the journal's lines.")
    var json = false

    func run() throws {
        try reportingFailures {
            let config = try options.loadConfig()
            let host = try options.openHost(staleAfter: grace)
            let owned: [VNI]
            do {
                // Open vSwitch bridges too: one of ours whose vxlan device is gone is found by its mark.
                owned = try host.openvswitch.segments(
                    in: host.network, bridgeNames: config.names.bridge, vxlanNames: config.names.vxlan
                )
                .filter {
                    $0.bridge?.ownerVNI == $0.vni || $0.vxlan?.ownerVNI == $0.vni || $0.openvswitch?.ownerVNI == $0.vni
                }.map(\.vni)
            } catch {
                throw Failure.host(String(describing: error))
            }
            let vnis = Set(owned + host.users.recordedVNIs()).sorted()
            let outcomes: [LeaveOutcome]
            do {
                outcomes = try host.lifecycle.collectGarbage(try vnis.map { vni in try config.names(for: vni) })
            } catch {
                throw Failure.host(String(describing: error))
            }
            if json {
                try printJSON(outcomes.map(TeardownReport.init))
                return
            }
            print("gc: checked \(vnis.count) VNI\(vnis.count == 1 ? "" : "s")")
        }
    }
}

import Foundation
import NamespaceTestSupport
import OVSDB
import Spawn
import Testing

/// Why the hook talks RFC 7047 itself instead of running `ovs-vsctl`: the same questions
/// and changes both ways against one private Open vSwitch, timed. Opt-in (it prints
/// figures, asserts nothing about them): LIBVIRT_VXLAN_MEASURE_OVS=1.
@Suite(
    .enabled(if: isRoot && ProcessInfo.processInfo.environment["LIBVIRT_VXLAN_MEASURE_OVS"] == "1"),
    .enabled(if: PrivateOpenvSwitch.isInstalled), .serialized)
struct TransportMeasurement {
    static func milliseconds(_ rounds: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds { try body() }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(rounds)
    }

    /// `ovs-vsctl --db=unix:SOCKET --timeout=5 ARGS`, started with posix_spawn (argv, no shell).
    static func vsctl(_ ovs: PrivateOpenvSwitch, _ arguments: [String]) throws {
        let pid = try spawn(
            ["/usr/bin/ovs-vsctl", "--db=unix:" + ovs.socket, "--timeout=5"] + arguments,
            environment: ovs.environment.map { "\($0)=\($1)" })
        let status = ExitStatus(waitStatus: waitForExit(pid))
        struct Failed: Error { var arguments: [String], status: Int32 }
        guard status.code == 0 else { throw Failed(arguments: arguments, status: status.code) }
    }

    @Test(arguments: [1, 500])
    func readAndChangeOneSegment(bridges: Int) throws {
        let host = try NetworkNamespace("ovsm")
        let ovs = try PrivateOpenvSwitch(in: host)
        // Other segments' rows on the host: what every call of ovs-vsctl reads first.
        if bridges > 1 {
            var arguments: [String] = []
            for vni in 1..<bridges {
                arguments += [
                    "--", "add-br", "brvx-\(vni)", "--", "set", "Bridge", "brvx-\(vni)", "datapath_type=netdev",
                ]
                arguments += ["--", "add-port", "brvx-\(vni)", "vxlan\(vni)"]
            }
            try Self.vsctl(ovs, ["--no-wait"] + arguments)
        }
        let rounds = 50
        var vni: UInt32 = 100_000
        let create = try Self.milliseconds(rounds) {
            vni += 1
            let vswitch = try VSwitch.connect(socket: ovs.socket, timeoutMilliseconds: 5000)
            var change = VSwitch.Change(
                bridge: "brvx-\(vni)", vxlan: "vxlan\(vni)", vni: vni, datapathType: "netdev", mtu: 1450)
            change.createBridge = true
            change.addVXLANPort = true
            try vswitch.waitApplied(try vswitch.apply(change))
        }
        let createVsctl = try Self.milliseconds(rounds) {
            vni += 1
            try Self.vsctl(
                ovs,
                [
                    "--", "add-br", "brvx-\(vni)", "--", "set", "Bridge", "brvx-\(vni)", "datapath_type=netdev",
                    "external_ids:libvirt-vxlan-vni=\(vni)", "--", "set", "Interface", "brvx-\(vni)",
                    "mtu_request=1450",
                    "--", "add-port", "brvx-\(vni)", "vxlan\(vni)", "--", "set", "Port", "vxlan\(vni)",
                    "external_ids:libvirt-vxlan-vni=\(vni)",
                ])
        }
        let read = try Self.milliseconds(rounds) {
            let vswitch = try VSwitch.connect(socket: ovs.socket, timeoutMilliseconds: 5000)
            _ = try vswitch.segment(bridge: "brvx-100001", vxlan: "vxlan100001")
        }
        let readVsctl = try Self.milliseconds(rounds) {
            try Self.vsctl(ovs, ["list-ports", "brvx-100001"])
        }
        var removed: UInt32 = 100_000
        let remove = try Self.milliseconds(rounds) {
            removed += 1
            let vswitch = try VSwitch.connect(socket: ovs.socket, timeoutMilliseconds: 5000)
            let bridge = try #require(
                try vswitch.segment(bridge: "brvx-\(removed)", vxlan: "vxlan\(removed)").bridge)
            try vswitch.waitApplied(try vswitch.removeBridges([bridge]))
        }
        let removeVsctl = try Self.milliseconds(rounds) {
            removed += 1
            try Self.vsctl(ovs, ["--if-exists", "del-br", "brvx-\(removed)"])
        }
        print(
            "OVS transport, \(bridges) bridge(s) on the host, ms per call (mean of \(rounds)):",
            String(format: "read %.2f vs ovs-vsctl list-ports %.2f;", read, readVsctl),
            String(format: "new segment %.2f vs ovs-vsctl add-br+add-port %.2f;", create, createVsctl),
            String(format: "removal %.2f vs ovs-vsctl del-br %.2f", remove, removeVsctl))
    }
}

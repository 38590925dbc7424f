import Foundation
import NamespaceTestSupport
import Testing

private let frrDaemons = "/usr/lib/frr"
private let hasFRR = FileManager.default.isExecutableFile(atPath: "\(frrDaemons)/bgpd")
private let samples = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Samples")

/// zebra and bgpd of one namespaced host, started by the test with config, pid, log and
/// socket files in a folder of its own (nothing under /etc/frr or /run/frr), and stopped
/// by their pids when the test ends.
final class FRRouter {
    let folder: TemporaryFolder
    private var daemons: [ChildProcess] = []

    init(in namespace: NetworkNamespace, bgpConfiguration: String) throws {
        folder = try TemporaryFolder()
        let files = [
            "zebra": try folder.write("zebra.conf", "hostname \(namespace.name)\n"),
            "bgpd": try folder.write("bgpd.conf", bgpConfiguration),
        ]
        // The daemons drop to user frr: root is not in its vty group, so they cannot run
        // as root, and frr must own the folder.
        try run("chown", "-R", "frr:frr", folder.path)
        daemons = try ["zebra", "bgpd"].map { daemon in
            try ChildProcess([
                "ip", "netns", "exec", namespace.name, "\(frrDaemons)/\(daemon)", "-f", files[daemon] ?? "",
                "-i", "\(folder.path)/\(daemon).pid", "-z", "\(folder.path)/zserv.api", "--vty_socket", folder.path,
                "-u", "frr", "-g", "frr", "-P", "0", "--log", "file:\(folder.path)/\(daemon).log",
            ])
        }
    }

    /// SIGTERM to each daemon (ip netns exec and env exec it: the pid is the daemon's),
    /// SIGKILL after 5 s, and reaped.
    func stop() {
        daemons.forEach { $0.stop() }
    }

    /// What zebra and bgpd logged, for a failure message.
    var logs: String {
        ["zebra", "bgpd"].map { (try? String(contentsOfFile: "\(folder.path)/\($0).log", encoding: .utf8)) ?? "" }
            .joined(separator: "\n")
    }
}

/// Polls `condition` every 0.2 s until it holds or `seconds` pass.
private func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        if try condition() { return true }
        usleep(200_000)
    } while Date() < deadline
    return false
}

@Suite(.enabled(if: isRoot && hasFRR, "needs root and FRR (apt install frr) for BGP EVPN between namespaces"))
struct EVPNTests {
    /// Two hosts, each with its own zebra and bgpd in an iBGP EVPN session (bgpd running
    /// Samples/frr-evpn.conf on A, its mirror on B). The hook makes VNI 5001 on both in
    /// evpn mode; FRR must then install each host's VTEP in the other's FDB (type-3
    /// route), guests on the two hosts must ping, and the teardown on A must withdraw A
    /// from B's FDB.
    @Test func testHooksOnTwoHostsJoinTheVNIThroughBGPEVPN() throws {
        let config = "underlay = \"ul0\"\nmode = \"evpn\"\nvni_ranges = [\"5000-5999\"]\n"
        let hostA = try HookHost("evpnA", config: config, addUnderlay: false)
        let hostB = try HookHost("evpnB", config: config, addUnderlay: false)
        try hostA.namespace.ip(
            "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", hostB.namespace.name)
        for (host, address) in [(hostA, "192.0.2.1/24"), (hostB, "192.0.2.2/24")] {
            try host.namespace.ip("addr", "add", address, "dev", "ul0")
            try host.namespace.ip("link", "set", "ul0", "up")
        }
        let sample = try String(contentsOf: samples.appendingPathComponent("frr-evpn.conf"), encoding: .utf8)
        let mirrored = sample.replacingOccurrences(of: "192.0.2.1", with: "192.0.2.B")
            .replacingOccurrences(of: "192.0.2.2", with: "192.0.2.1").replacingOccurrences(
                of: "192.0.2.B", with: "192.0.2.2")
        let routerA = try FRRouter(in: hostA.namespace, bgpConfiguration: sample)
        let routerB = try FRRouter(in: hostB.namespace, bgpConfiguration: mirrored)
        defer {
            routerA.stop()
            routerB.stop()
        }

        let guestA = domainXML("a1", uuid: uuid(1), bridges: ["brvx-5001"])
        let guestB = domainXML("b1", uuid: uuid(2), bridges: ["brvx-5001"])
        let preparedA = try hostA.hook("qemu", "a1", "prepare", "begin", input: guestA)
        let preparedB = try hostB.hook("qemu", "b1", "prepare", "begin", input: guestB)
        #expect(preparedA.status == 0 && preparedB.status == 0, "\(preparedA.errors)\(preparedB.errors)")

        func fdb(_ host: HookHost) throws -> String {
            try run("bridge", "-n", host.namespace.name, "fdb", "show", "dev", "vxlan5001")
        }
        #expect(
            try eventually(within: 30) { try fdb(hostA).contains("00:00:00:00:00:00 dst 192.0.2.2") },
            "no type-3 route from B on A:\n\((try? fdb(hostA)) ?? "")\n\(routerA.logs)")
        #expect(
            try eventually(within: 30) { try fdb(hostB).contains("00:00:00:00:00:00 dst 192.0.2.1") },
            "no type-3 route from A on B:\n\((try? fdb(hostB)) ?? "")\n\(routerB.logs)")

        let guestNamespaceA = try NetworkNamespace("evpn-gA")
        let guestNamespaceB = try NetworkNamespace("evpn-gB")
        try guestNamespaceA.plugGuest(
            into: hostA.namespace, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.1/24")
        try guestNamespaceB.plugGuest(
            into: hostB.namespace, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.2/24")
        #expect(try guestNamespaceA.pings("198.51.100.2"), "no ping across the EVPN overlay")
        // Learned by B's bridge, announced by B's bgpd (type-2), installed by A's zebra.
        let macB = try #require(try guestNamespaceB.link("eth0")?["address"] as? String)
        #expect(
            try eventually(within: 10) { try fdb(hostA).contains("\(macB) dst 192.0.2.2 self extern_learn") },
            "B's guest MAC not on A:\n\((try? fdb(hostA)) ?? "")")

        // The guest on A stops: libvirt removes its tap, then runs the release hook.
        try hostA.namespace.ip("link", "del", "vnet0")
        #expect(try hostA.hook("qemu", "a1", "release", "end", input: guestA).status == 0)
        hostA.settle()
        #expect(try !hostA.exists("brvx-5001") && !hostA.exists("vxlan5001"))
        #expect(
            try eventually(within: 30) { try !fdb(hostB).contains("dst 192.0.2.1") },
            "A's VTEP not withdrawn from B:\n\((try? fdb(hostB)) ?? "")")
    }
}

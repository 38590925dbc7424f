import Foundation
import NamespaceTestSupport
import Spawn
import Testing

/// `vxlanctl watch` running in the foreground inside a host's namespace, on that host's
/// configuration and state, its log in the host's folder. Stopped with SIGTERM when the
/// test ends (SIGKILL only if it ignored that for 5 s, which `stop()` reports).
final class Watcher {
    let child: ChildProcess
    let log: String

    /// `options`: more of watch's options (the metrics' export). Without a textfile of
    /// the test's, none: "auto" would write the host's node_exporter folder.
    init(
        on host: HookHost, interval: Int = 3600, grace: Int = 300, options: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        log = host.folder.path + "/watch-\(UUID().uuidString).log"
        let descriptor = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(descriptor) }
        child = try ChildProcess(
            [
                "ip", "netns", "exec", host.namespace.name, builtProduct("vxlanctl"), "watch", "--interval",
                String(interval), "--grace", String(grace), "--config", host.config,
            ] + options + (options.contains("--metrics-textfile") ? [] : ["--metrics-textfile", "off"]),
            environment: ["LIBVIRT_VXLAN_STATE_DIR": host.state].merging(environment) { $1 }, stderr: descriptor)
        // Subscribed before it logs this line: every change after it is seen.
        try #require(eventually { self.output.contains("watch: started") }, "watcher did not start: \(output)")
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// SIGTERM; returns whether it exited on its own with status 0.
    func stop() -> Bool {
        child.stop()
        let status = Spawn.ExitStatus(waitStatus: child.wait())
        return !status.signalled && status.code == 0
    }

    deinit { child.stop() }
}

/// Polls `condition` every 100 ms until it holds or `seconds` pass: tests wait for
/// convergence, they never assert how fast it comes.
func eventually(seconds: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(100_000)
    }
    return try condition()
}

/// Hosts A and B, each with an underlay `ul0` on a switch (a bridge in a third namespace,
/// so that A's underlay can be deleted and re-created without touching B's), VNI 5001 on
/// both (made by A's hook for guest g1, by vxlanctl on B), and a guest namespace on each
/// bridge.
final class TwoHosts {
    let fabric: NetworkNamespace
    let a: HookHost
    let b: HookHost
    let guestA: NetworkNamespace
    let guestB: NetworkNamespace

    init(mode: String) throws {
        fabric = try NetworkNamespace("fabric")
        try fabric.ip("link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        try fabric.ip("link", "set", "br0", "up")
        let unicast = mode == "unicast"
        let keys = (a: unicast ? "remotes = [\"192.0.2.2\"]\n" : "", b: unicast ? "remotes = [\"192.0.2.1\"]\n" : "")
        a = try HookHost("watchA", config: "underlay = \"ul0\"\nmode = \"\(mode)\"\n" + keys.a, addUnderlay: false)
        b = try HookHost("watchB", config: "underlay = \"ul0\"\nmode = \"\(mode)\"\n" + keys.b, addUnderlay: false)
        guestA = try NetworkNamespace("guestA")
        guestB = try NetworkNamespace("guestB")
        try plugUnderlay(a, port: "sw-a", mac: "02:00:00:00:00:0a", address: "192.0.2.1/24")
        try plugUnderlay(b, port: "sw-b", mac: "02:00:00:00:00:0b", address: "192.0.2.2/24")
        let prepare = try a.hook(
            "qemu", "g1", "prepare", "begin", input: domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"]))
        try #require(prepare.status == 0, "\(prepare.errors)")
        try ensureOnB()
        try guestA.plugGuest(into: a.namespace, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.1/24")
        try guestB.plugGuest(into: b.namespace, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.2/24")
    }

    /// `ul0` in `host`, its peer `port` on the switch; the same name, MAC and address each time.
    func plugUnderlay(_ host: HookHost, port: String, mac: String, address: String) throws {
        try host.namespace.ip(
            "link", "add", "ul0", "address", mac, "type", "veth", "peer", "name", port, "netns", fabric.name)
        try host.namespace.ip("addr", "add", address, "dev", "ul0", "nodad")
        try host.namespace.ip("link", "set", "ul0", "up")
        try fabric.ip("link", "set", port, "master", "br0", "up")
    }

    func ensureOnB() throws {
        let ensure = try b.namespace.exec([builtProduct("vxlanctl"), "ensure", "5001", "--config", b.config])
        try #require(ensure.status == 0, "\(ensure.errors)")
    }

    /// Traffic across the overlay, with time for the watcher (tries for 20 s).
    func overlayWorks() throws -> Bool { try guestA.pings("198.51.100.2", attempts: 20) }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct WatcherTests {
    /// Multicast: A's underlay deleted and re-created (ifdown/ifup: the kernel deletes
    /// the vxlan device bound to it), A's vxlan device deleted by hand, then detached from
    /// its bridge. Each time traffic between the guests comes back by itself.
    @Test func testTrafficComesBackAfterEachBreakOfTheSegment() throws {
        let hosts = try TwoHosts(mode: "multicast")
        let watcher = try Watcher(on: hosts.a)
        #expect(try hosts.overlayWorks(), "no traffic before any break")

        try hosts.a.namespace.ip("link", "del", "ul0")
        #expect(try eventually { try !hosts.a.exists("vxlan5001") })
        try hosts.plugUnderlay(hosts.a, port: "sw-a", mac: "02:00:00:00:00:0a", address: "192.0.2.1/24")
        #expect(try hosts.overlayWorks(), "underlay re-created: \(watcher.output)")

        try hosts.a.namespace.ip("link", "del", "vxlan5001")
        #expect(try hosts.overlayWorks(), "vxlan5001 deleted: \(watcher.output)")

        try hosts.a.namespace.ip("link", "set", "vxlan5001", "nomaster")
        #expect(try hosts.overlayWorks(), "vxlan5001 detached: \(watcher.output)")
        #expect(try hosts.a.segmentIsComplete(5001))
        #expect(watcher.stop(), "SIGTERM did not stop the watcher")
    }

    /// Unicast: A's VTEP address changes (the device's `local` follows the underlay's
    /// address) and B's remotes are updated; A's stale device is replaced by itself.
    @Test func testTrafficComesBackAfterTheVTEPAddressChanges() throws {
        let hosts = try TwoHosts(mode: "unicast")
        let watcher = try Watcher(on: hosts.a)
        #expect(try hosts.overlayWorks(), "no traffic before the change")

        try hosts.a.namespace.ip("addr", "del", "192.0.2.1/24", "dev", "ul0")
        try hosts.a.namespace.ip("addr", "add", "192.0.2.11/24", "dev", "ul0", "nodad")
        _ = try String(contentsOfFile: hosts.b.config, encoding: .utf8)
            .replacingOccurrences(of: "192.0.2.1", with: "192.0.2.11")
            .write(toFile: hosts.b.config, atomically: true, encoding: .utf8)
        try hosts.ensureOnB()
        #expect(try hosts.overlayWorks(), "VTEP address changed: \(watcher.output)")
        let vxlan = try #require(try hosts.a.namespace.link("vxlan5001"))
        #expect(
            (vxlan["linkinfo"] as? [String: Any]).flatMap { $0["info_data"] as? [String: Any] }?["local"] as? String
                == "192.0.2.11")
        #expect(
            watcher.output.contains("deleted vxlan5001 (local 192.0.2.1 instead of 192.0.2.11)"), "\(watcher.output)")
    }

    /// A VNI whose last guest is released stays gone; a bridge of our name that is not
    /// ours is left exactly as it is; a watcher killed with SIGKILL leaves no lock behind,
    /// and its successor's first sweep repairs what broke meanwhile. Each "nothing
    /// happened" is checked after the watcher provably ran a check: it repaired VNI 5002.
    @Test func testReleasedAndForeignSegmentsAreLeftAloneAndAKilledWatcherRecovers() throws {
        let host = try HookHost("watch-alone")
        for index in 1...3 {
            let xml = domainXML("g\(index)", uuid: uuid(index), bridges: ["brvx-500\(index)"])
            try #require(try host.hook("qemu", "g\(index)", "prepare", "begin", input: xml).status == 0)
        }
        // VNI 5003's devices replaced by an operator's own bridge of the same name.
        try host.namespace.ip("link", "del", "vxlan5003")
        try host.namespace.ip("link", "del", "brvx-5003")
        try host.namespace.ip("link", "add", "brvx-5003", "type", "bridge")
        try host.namespace.ip("link", "set", "brvx-5003", "up")

        let first = try Watcher(on: host)
        let status = try host.namespace.exec(
            [builtProduct("vxlanctl"), "status", "--json", "--config", host.config],
            environment: ["LIBVIRT_VXLAN_STATE_DIR": host.state])
        #expect(status.output.contains("\"running\" : true"), "\(status.output)")

        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        host.settle()
        try host.namespace.ip("link", "del", "vxlan5002")
        #expect(try eventually { try host.segmentIsComplete(5002) }, "\(first.output)")
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"), "a released segment came back")
        let foreign = try #require(try host.namespace.link("brvx-5003"))
        #expect(foreign["group"] as? String == "default" && foreign["master"] == nil)
        #expect(try !host.exists("vxlan5003"), "a segment was completed on a bridge that is not ours")
        #expect(first.output.contains("watch VNI 5003: vxlan5003 missing: cannot repair"), "\(first.output)")

        kill(first.child.pid, SIGKILL)
        first.child.wait()
        try host.namespace.ip("link", "set", "vxlan5002", "nomaster")
        let second = try Watcher(on: host)
        #expect(try eventually { try host.segmentIsComplete(5002) }, "\(second.output)")
        #expect(second.stop())
    }

    /// The sweep forgets a guest that vanished without release (none of its NICs on the
    /// bridge) and removes its segment, as gc does; a guest whose tap is there stays.
    @Test func testTheSweepForgetsAGuestThatVanishedWithoutRelease() throws {
        let host = try HookHost("watch-sweep")
        for index in [1, 2] {
            let xml = domainXML("g\(index)", uuid: uuid(index), bridges: ["brvx-500\(index)"])
            try #require(try host.hook("qemu", "g\(index)", "prepare", "begin", input: xml).status == 0)
        }
        // g2's tap, named and addressed the way libvirt does it (fe: and its MAC's last bytes).
        try host.namespace.ip(
            "link", "add", "vnet0", "address", "fe:54:00:00:00:01", "type", "veth", "peer", "name", "vnet0p")
        try host.namespace.ip("link", "set", "vnet0", "master", "brvx-5002", "up")
        let watcher = try Watcher(on: host, interval: 1, grace: 0)
        #expect(try eventually { try host.users(5001).isEmpty && !host.exists("brvx-5001") }, "\(watcher.output)")
        #expect(watcher.output.contains("forgot g1"), "\(watcher.output)")
        #expect(host.users(5002) == ["domain-\(uuid(2))"])
        #expect(try host.segmentIsComplete(5002))
    }

    /// 24 hook processes at once on 4 shared VNIs (each guest prepared, three in four
    /// released) while vxlan devices are set down and detached and the underlay's MTU
    /// changes. No hook call fails, and the end state is exactly the expected one: the
    /// VNI still in use complete at the MTU of the last underlay, the others gone.
    @Test func testStormOfHooksAndFlapsEndsInTheExactState() throws {
        let host = try HookHost("watch-storm")
        let watcher = try Watcher(on: host)
        let guests = 24
        let keeps = Set([0, 8, 16])  // on VNI 5000
        let flaps = DispatchGroup()
        DispatchQueue.global().async(group: flaps) {
            for round in 0..<30 {
                let vxlan = "vxlan\(5000 + round % 4)"
                let change =
                    switch round % 3 {
                    case 0: ["link", "set", vxlan, "down"]
                    case 1: ["link", "set", vxlan, "nomaster"]
                    default: ["link", "set", "ul0", "mtu", round % 2 == 0 ? "1400" : "1500"]
                    }
                _ = try? host.namespace.ip(change)
                usleep(20_000)
            }
        }
        let failures = host.prepareAndRelease(guests: guests, keeping: keeps)
        flaps.wait()
        try host.namespace.ip("link", "set", "ul0", "mtu", "1480")
        #expect(failures.isEmpty, "\(failures)")
        #expect(host.users(5000) == keeps.sorted().map { "domain-\(uuid($0))" }.sorted())
        host.settle()
        // Converged after the last change, at the last MTU (1480 - 50).
        #expect(
            try eventually {
                try host.segmentIsComplete(5000) && host.namespace.link("vxlan5000")?["mtu"] as? Int == 1430
            }, "\(watcher.output)")
        for vni in 5001...5003 {
            #expect(try !host.exists("brvx-\(vni)") && !host.exists("vxlan\(vni)"), "VNI \(vni) left or brought back")
            #expect(host.users(vni).isEmpty)
        }
    }
}

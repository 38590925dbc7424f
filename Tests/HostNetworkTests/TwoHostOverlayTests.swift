import Foundation
import NamespaceTestSupport
import Testing
import VXLANCore

extension NetworkNamespace {
    /// `vxlanctl ARGS...` run inside this namespace.
    func vxlanctl(_ arguments: String...) throws -> CommandResult {
        try exec([builtProduct("vxlanctl")] + arguments)
    }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct TwoHostOverlayTests {
    /// The underlays the overlay test runs on: each host's address, and what the
    /// configuration needs besides the mode. An IPv6 underlay takes 70 bytes of overhead,
    /// and multicast over it needs an IPv6 group network: ff05::/104 puts the whole VNI
    /// in the group's low 24 bits (VNI 5001: ff05::1389).
    struct Underlay: Sendable, CustomTestStringConvertible {
        var addresses: (a: String, b: String)
        var prefixLength: Int
        var multicastKeys: String
        var group: String
        var segmentMTU: Int
        var testDescription: String { addresses.a.contains(":") ? "IPv6" : "IPv4" }

        static let ipv4 = Underlay(
            addresses: ("192.0.2.1", "192.0.2.2"), prefixLength: 24, multicastKeys: "", group: "239.0.19.137",
            segmentMTU: 1450)
        static let ipv6 = Underlay(
            addresses: ("2001:db8::1", "2001:db8::2"), prefixLength: 64,
            multicastKeys: "group_base = \"ff05::/104\"\n", group: "ff05::1389", segmentMTU: 1430)
    }

    /// Two hosts joined by a veth underlay (IPv4 or IPv6 only); on each, vxlanctl makes
    /// VNI 5001 and a guest namespace is plugged into its bridge. The guests must reach
    /// each other, which proves the devices carry real VXLAN traffic in this mode.
    @Test(arguments: [UnderlayMode.multicast, .unicast], [Underlay.ipv4, .ipv6])
    func testGuestsOnTwoHostsPingAcrossTheOverlay(mode: UnderlayMode, underlay: Underlay) throws {
        let hostA = try NetworkNamespace("hostA")
        let hostB = try NetworkNamespace("hostB")
        let guestA = try NetworkNamespace("guestA")
        let guestB = try NetworkNamespace("guestB")
        try hostA.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", hostB.name)
        let (a, b) = underlay.addresses
        for (host, address) in [(hostA, a), (hostB, b)] {
            // nodad: an IPv6 address is usable at once, not after duplicate detection.
            try host.ip("addr", "add", "\(address)/\(underlay.prefixLength)", "dev", "ul0", "nodad")
            try host.ip("link", "set", "ul0", "up")
        }
        let folder = try TemporaryFolder()
        for (host, peer) in [(hostA, b), (hostB, a)] {
            let keys = mode == .unicast ? "remotes = [\"\(peer)\"]\n" : underlay.multicastKeys
            let config = try folder.write(host.name, "underlay = \"ul0\"\nmode = \"\(mode)\"\n\(keys)")
            let ensure = try host.vxlanctl("ensure", "5001", "--config", config)
            #expect(ensure.status == 0, "\(ensure.errors)")
            #expect(
                ensure.output.contains("VNI 5001: brvx-5001 + vxlan5001 ready, mtu \(underlay.segmentMTU)"),
                "\(ensure.output)")
            if mode == .multicast { #expect(ensure.output.contains("group \(underlay.group) "), "\(ensure.output)") }
            // Every VNI's remotes come from one fdb dump of the whole host: the same as by name.
            let status = try host.vxlanctl("status", "--config", config).output
            let expected = mode == .unicast ? "remotes \(peer) " : "group \(underlay.group) "
            #expect(status.contains(expected), "\(status)")
            #expect(try host.vxlanctl("status", "5001", "--config", config).output.contains(expected))
        }
        try guestA.plugGuest(into: hostA, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.1/24")
        try guestB.plugGuest(into: hostB, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.2/24")

        #expect(try guestA.pings("198.51.100.2"), "no ping across the \(mode) overlay")
        #expect(try guestB.pings("198.51.100.1"))

        // The bridge still carries the guest's tap: teardown must leave it (exit 3).
        let config = folder.path + "/" + hostA.name
        let kept = try hostA.vxlanctl("teardown", "5001", "--config", config)
        #expect(kept.status == 3)
        #expect(kept.errors == "vxlanctl: VNI 5001: kept, brvx-5001 still has ports vnet0\n")
        #expect(try hostA.link("brvx-5001") != nil)

        try hostA.ip("link", "del", "vnet0")
        let removed = try hostA.vxlanctl("teardown", "5001", "--config", config)
        #expect(removed.status == 0, "\(removed.errors)")
        #expect(try hostA.link("brvx-5001") == nil && hostA.link("vxlan5001") == nil)
    }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct VXLANCtlTests {
    @Test func testStatusJSONDescribesTheSegment() throws {
        let host = try NetworkNamespace("status")
        try host.addUnderlay()
        let folder = try TemporaryFolder()
        let config = try folder.write("vxlan.conf", "underlay = \"ul0\"\n")
        #expect(try host.vxlanctl("ensure", "5001", "--config", config).status == 0)
        let status = try host.vxlanctl("status", "--json", "--config", config)
        #expect(status.status == 0, "\(status.errors)")
        let document = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
        let segments = try #require(document?["segments"] as? [[String: Any]])
        #expect(segments.count == 1)
        #expect(segments.first?["vni"] as? Int == 5001)
        #expect(segments.first?["state"] as? String == "ready")
        #expect(segments.first?["owned"] as? Bool == true)
        let vxlan = try #require(segments.first?["vxlan"] as? [String: Any])
        #expect(vxlan["group"] as? String == "239.0.19.137")
        #expect(vxlan["underlay"] as? String == "ul0")
        #expect(vxlan["master"] as? String == "brvx-5001")

        let table = try host.vxlanctl("status", "5001", "--config", config)
        #expect(table.output.contains("brvx-5001"))
        #expect(table.output.contains("group 239.0.19.137 dev ul0 dstport 8472 ttl 10"))
    }

    /// Each refusal: its exit status, one line on stderr, and no link made.
    static let refusals: [(arguments: [String], config: String, status: Int32, message: String)] = [
        (["ensure", "0"], "underlay = \"ul0\"\n", 64, "VNI 0 is out of range (1-16777215)"),
        (["ensure", "16777216"], "underlay = \"ul0\"\n", 64, "VNI 16777216 is out of range (1-16777215)"),
        (["teardown", "0x10"], "underlay = \"ul0\"\n", 64, "VNI '0x10' is not a decimal number"),
        (
            ["ensure", "5001"], "underlay = \"ul0\"\nvni_ranges = [\"100-200\"]\n", 2,
            "not in this host's vni_ranges (100-200)"
        ),
        (["ensure", "5001"], "underlay = \"ul9\"\n", 1, "underlay device ul9 does not exist"),
        (["ensure", "5001"], "undrelay = \"ul0\"\n", 2, "line 1"),
        (["ensure", "5001"], "mode = \"unicast\"\n", 2, "remotes"),
    ]

    @Test(arguments: refusals)
    func testRefusalsExitWithOneLineAndCreateNothing(
        refusal: (arguments: [String], config: String, status: Int32, message: String)
    ) throws {
        let host = try NetworkNamespace("refuse")
        try host.addUnderlay()
        let folder = try TemporaryFolder()
        let config = try folder.write("vxlan.conf", refusal.config)
        let before = try host.linkNames()
        let result = try host.exec([builtProduct("vxlanctl")] + refusal.arguments + ["--config", config])
        #expect(result.status == refusal.status, "\(result.errors)")
        #expect(result.errors.contains(refusal.message), "\(result.errors)")
        #expect(try host.linkNames() == before)
    }

    @Test func testExplicitConfigThatIsMissingIsAnError() throws {
        let result = try capture([builtProduct("vxlanctl"), "status", "--config", "/nonexistent/vxlan.conf"])
        #expect(result.status == 2)
        #expect(result.errors == "vxlanctl: cannot read /nonexistent/vxlan.conf: No such file or directory\n")
    }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct PreflightCheckTests {
    /// Each FAIL path of `vxlanctl check`: how the namespace is set up, the configuration,
    /// the check that must fail and words its message must hold.
    static let failures: [(label: String, setup: [[String]], config: String, check: String, words: String)] = [
        ("missing underlay", [], "underlay = \"ul9\"\n", "underlay", "underlay device ul9 does not exist"),
        ("underlay down", [["link", "set", "ul0", "down"]], "underlay = \"ul0\"\n", "underlay", "is down"),
        ("low MTU", [["link", "set", "ul0", "mtu", "1300"]], "underlay = \"ul0\"\n", "mtu", "below IPv6's minimum"),
        ("fixed MTU too big", [], "underlay = \"ul0\"\nmtu = 1500\n", "mtu", "carries at most 1450"),
        ("no address", [["addr", "flush", "dev", "ul0"]], "underlay = \"ul0\"\n", "address", "no global IPv4 address"),
    ]

    @Test(arguments: failures)
    func testCheckFails(failure: (label: String, setup: [[String]], config: String, check: String, words: String))
        throws
    {
        let host = try NetworkNamespace("check")
        try host.addUnderlay()
        for command in failure.setup { try run(["ip", "-n", host.name] + command) }
        let folder = try TemporaryFolder()
        let config = try folder.write("vxlan.conf", failure.config)
        let before = try host.linkNames()
        let result = try host.vxlanctl("check", "--json", "--config", config)
        #expect(result.status == 1, "\(failure.label): \(result.errors)")
        let verdicts = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]] ?? []
        let failed = verdicts.filter { $0["level"] as? String == "FAIL" && $0["check"] as? String == failure.check }
        #expect(
            failed.contains { ($0["message"] as? String ?? "").contains(failure.words) },
            "\(failure.label): \(result.output)")
        #expect(try host.linkNames() == before, "check changed the host")
    }

    /// The seed's warning, predicted: with the limit at 1 and one multicast VNI up, the
    /// next one would fail with ENOBUFS, so check fails and names the sysctl.
    @Test func testCheckPredictsTheIGMPLimit() throws {
        let host = try NetworkNamespace("check-igmp")
        try host.addUnderlay()
        #expect(try host.exec(["sysctl", "-q", "-w", "net.ipv4.igmp_max_memberships=1"]).status == 0)
        let folder = try TemporaryFolder()
        let config = try folder.write("vxlan.conf", "underlay = \"ul0\"\n")
        #expect(try host.vxlanctl("ensure", "5001", "--config", config).status == 0)
        let result = try host.vxlanctl("check", "--config", config)
        #expect(result.status == 1)
        #expect(
            result.output.contains("FAIL  igmp: 1 multicast VNIs already use all 1 memberships"), "\(result.output)")
        #expect(result.output.contains("sysctl -w net.ipv4.igmp_max_memberships="))
        #expect(result.output.contains("PASS  kernel: vxlan and bridge devices can be created"))
    }
}

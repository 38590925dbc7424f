import Foundation
import NamespaceTestSupport
import Testing

/// `vxlanctl check --peers` on a real kernel: host A's 9000-byte underlay leads to a
/// router, and the router to one peer namespace per case, each link dual-stack:
///
///     hostA ul0 (9000) -- r0 router r1 (9000) -- jumbo   10.0.1.2   fd01::2   PASS
///                                   r2 (1500) -- small   10.0.2.2   fd02::2   ICMP: at most 1500
///                                   r3 (1500) -- hole    10.0.3.2   fd03::2   router's ICMP dropped
///                                                        10.0.2.99  fd02::99  nobody: unreachable
///
/// Every case has its own peer address, so what the kernel learns about one path (its
/// PMTU cache) cannot leak into another.
@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct PeerPathTests {
    let hostA: NetworkNamespace
    let router: NetworkNamespace
    let peers: [NetworkNamespace]
    let folder: TemporaryFolder

    init() throws {
        hostA = try NetworkNamespace("pmtuA")
        router = try NetworkNamespace("pmtuR")
        peers = try ["jumbo", "small", "hole"].map { try NetworkNamespace("pmtu\($0)") }
        folder = try TemporaryFolder()
        try link(hostA, "ul0", router, "r0", mtu: 9000, subnet: 0, host: 1, gateway: 254)
        try run(
            "ip", "netns", "exec", router.name, "sysctl", "-qw", "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1")
        for (number, (peer, mtu)) in zip(peers, [9000, 1500, 1500]).enumerated() {
            try link(peer, "e0", router, "r\(number + 1)", mtu: mtu, subnet: number + 1, host: 2, gateway: 254)
        }
        // The firewall that makes a black hole: the router's own "fragmentation needed"
        // and "packet too big" about packets for the hole peer never leave it. The
        // quoted packet's destination is at bit 192 of the ICMP message (IPv4), its
        // first 32 bits at bit 256 (IPv6).
        let rules = """
            table inet lvxt {
                chain output {
                    type filter hook output priority 0;
                    icmp type destination-unreachable icmp code frag-needed @th,192,32 0x0a000302 drop
                    icmpv6 type packet-too-big @th,256,32 0xfd030000 drop
                }
            }
            """
        let loaded = try router.exec(["nft", "-f", "-"], input: Array(rules.utf8))
        try #require(loaded.status == 0, "nft: \(loaded.errors)")
    }

    /// A veth pair from `a` to `b` with both ends `mtu`, `10.0.S.H/24` and `fd0S::H/64`
    /// on a's end, the gateway's on b's, and a's default routes through it.
    private func link(
        _ a: NetworkNamespace, _ nameA: String, _ b: NetworkNamespace, _ nameB: String, mtu: Int, subnet: Int,
        host: Int, gateway: Int
    ) throws {
        try a.ip(
            "link", "add", nameA, "mtu", String(mtu), "type", "veth", "peer", "name", nameB, "mtu", String(mtu),
            "netns", b.name)
        for (namespace, name, number) in [(a, nameA, host), (b, nameB, gateway)] {
            try namespace.ip("addr", "add", "10.0.\(subnet).\(number)/24", "dev", name)
            // nodad: usable at once, not after duplicate address detection.
            try namespace.ip("addr", "add", "fd0\(subnet)::\(String(number, radix: 16))/64", "dev", name, "nodad")
            try namespace.ip("link", "set", name, "up")
        }
        try a.ip("route", "add", "default", "via", "10.0.\(subnet).\(gateway)")
        try a.ip("-6", "route", "add", "default", "via", "fd0\(subnet)::\(String(gateway, radix: 16))")
    }

    /// EVPN mode, where the peers come from the fdb: zebra's default entry for one VTEP
    /// and a guest MAC behind another, both added here as zebra would; the rest by --peer.
    @Test func testEachPathGetsItsVerdictWithTheFix() throws {
        let config = try folder.write("vxlan.conf", "underlay = \"ul0\"\nmode = \"evpn\"\nlocal = \"10.0.0.1\"\n")
        #expect(try hostA.vxlanctl("ensure", "5001", "--config", config).status == 0)
        try run(
            "bridge", "-n", hostA.name, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan5001", "dst", "10.0.1.2")
        try run(
            "bridge", "-n", hostA.name, "fdb", "add", "52:54:00:00:00:01", "dev", "vxlan5001", "dst", "10.0.2.2",
            "self", "static")
        var arguments = ["check", "--config", config]
        for peer in ["10.0.3.2", "10.0.2.99", "fd01::2", "fd02::2", "fd03::2", "fd02::99"] {
            arguments += ["--peer", peer]
        }
        let check = try hostA.exec([builtProduct("vxlanctl")] + arguments)
        #expect(check.status == 1, "\(check.errors)")
        let lines = check.output.split(separator: "\n").map(String.init)
        let peerLines = lines.filter { $0.hasPrefix("PASS  peer") || $0.hasPrefix("FAIL  peer") }
        let expected = [
            "PASS  peer: 10.0.1.2: 9000-byte packets pass unfragmented (segment MTU 8950 + 50)",
            "FAIL  peer: the path to 10.0.2.2 carries at most 1500 bytes (ICMP from 10.0.0.254); VXLAN with segment MTU 8950 needs 9000",
            "FAIL  peer: full-size packets to 10.0.3.2 are lost without an ICMP error (black hole): 9000 bytes with don't-fragment vanish, small ones pass",
            "FAIL  peer: 10.0.2.99 is unreachable: ",
            "PASS  peer: fd01::2: 9000-byte packets pass unfragmented (segment MTU 8930 + 70)",
            "FAIL  peer: the path to fd02::2 carries at most 1500 bytes (ICMP from fd00::fe); VXLAN with segment MTU 8930 needs 9000",
            "FAIL  peer: full-size packets to fd03::2 are lost without an ICMP error (black hole): 9000 bytes with don't-fragment vanish, small ones pass",
            "FAIL  peer: fd02::99 is unreachable: ",
        ]
        #expect(peerLines.count == expected.count, "\(check.output)")
        for (line, start) in zip(peerLines, expected) { #expect(line.hasPrefix(start), "\(check.output)") }
        // Each failure is followed by its fix, naming the configuration file.
        let smallPath = try #require(lines.firstIndex { $0.contains("the path to 10.0.2.2") })
        #expect(
            lines[smallPath + 1]
                == "      fix: lower mtu in \(config) to 1450 (mtu = 1450), or raise the MTU of every link on the path to 10.0.2.2 to 9000"
        )
    }

    /// Unicast mode: the peers are the configured remotes; --json as every check line.
    @Test func testUnicastRemotesAsJSON() throws {
        let config = try folder.write(
            "vxlan.conf",
            "underlay = \"ul0\"\nmode = \"unicast\"\nremotes = [\"10.0.1.2\", \"10.0.2.2\", \"10.0.3.2\"]\n")
        let check = try hostA.vxlanctl("check", "--peers", "--json", "--config", config)
        #expect(check.status == 1, "\(check.errors)")
        #expect(!check.output.contains("\\/"), "paths must not be escaped")
        let results = try #require(
            try JSONSerialization.jsonObject(with: Data(check.output.utf8)) as? [[String: String]])
        let peerResults = results.filter { $0["check"] == "peer" }
        #expect(peerResults.map { $0["level"] } == ["PASS", "FAIL", "FAIL"], "\(check.output)")
        for (result, peer) in zip(peerResults, ["10.0.1.2", "10.0.2.2", "10.0.3.2"]) {
            #expect(result["message"]?.contains(peer) == true)
        }
        #expect(peerResults[1]["message"]?.contains("carries at most 1500 bytes") == true)
        #expect(peerResults[1]["fix"]?.contains("lower mtu in \(config) to 1450") == true)
        #expect(peerResults[2]["message"]?.contains("(black hole)") == true)
    }

    /// Without CAP_NET_RAW (no raw socket) the probe uses ICMP datagram sockets where
    /// net.ipv4.ping_group_range lets the user's group open them, and says why when not.
    @Test func testWithoutRawSocketsPingSocketsOrAReason() throws {
        let config = try folder.write("vxlan.conf", "underlay = \"ul0\"\nmode = \"evpn\"\n")
        let unprivileged = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", builtProduct("vxlanctl")]
        let arguments = ["check", "--config", config, "--peer", "10.0.1.2", "--peer", "fd02::2"]
        try run("ip", "netns", "exec", hostA.name, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
        let refused = try hostA.exec(unprivileged + arguments)
        #expect(refused.output.contains("FAIL  peers: cannot probe: no ICMP socket (run as root, or let your group"))

        try run("ip", "netns", "exec", hostA.name, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")
        let probed = try hostA.exec(unprivileged + arguments)
        #expect(probed.output.contains("PASS  peer: 10.0.1.2: 9000-byte packets pass"), "\(probed.output)")
        #expect(
            probed.output.contains(
                "FAIL  peer: the path to fd02::2 carries at most 1500 bytes (ICMP from fd00::fe)")
        )
    }

    /// No remote known: a warning that says how to name one, not a silent pass.
    @Test func testNoPeerKnownWarns() throws {
        let config = try folder.write("vxlan.conf", "underlay = \"ul0\"\nmode = \"evpn\"\n")
        let check = try hostA.vxlanctl("check", "--peers", "--config", config)
        #expect(check.output.contains("WARN  peers: no other VTEP known"), "\(check.output)")
        #expect(check.output.contains("fix: name one: vxlanctl check --peer ADDRESS"))
    }
}

import Foundation
import NamespaceTestSupport
import Testing

private let hasWireGuardTools = ["/usr/bin/wg", "/usr/bin/tcpdump"].allSatisfy {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// One host's WireGuard device, `wg0` of the scenario: the kernel module's where
/// `ip link add type wireguard` works, else Debian's wireguard-go (a tun device served by
/// a process the test starts and stops by its pid). wireguard-go's control socket,
/// /var/run/wireguard/NAME.sock, is shared by every namespace: each device gets a name
/// of its own.
final class WireGuardDevice {
    let name: String
    let host: NetworkNamespace
    let publicKey: String
    private let userspace: ChildProcess?
    private let privateKey: String

    init(in host: NetworkNamespace, address: String, folder: TemporaryFolder) throws {
        name = "lvxwg\(String(UInt32.random(in: 0...0xFFFFF), radix: 16))"
        self.host = host
        if try capture(["ip", "-n", host.name, "link", "add", name, "type", "wireguard"]).status == 0 {
            userspace = nil
        } else {
            let socket = "/var/run/wireguard/\(name).sock"
            userspace = try ChildProcess(
                ["ip", "netns", "exec", host.name, "wireguard-go", name], environment: ["WG_PROCESS_FOREGROUND": "1"])
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }
        }
        let key = try run("wg", "genkey").trimmingCharacters(in: .whitespacesAndNewlines)
        privateKey = try folder.write("\(name).key", key)
        publicKey = try capture(["wg", "pubkey"], input: Array(key.utf8)).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try host.ip("addr", "add", address, "dev", name)
        try host.ip("link", "set", name, "up")
    }

    deinit { userspace?.stop() }

    var implementation: String { userspace == nil ? "kernel module" : "wireguard-go" }

    /// `wg set NAME private-key FILE listen-port 51820 peer KEY allowed-ips IP endpoint E`
    func connect(to peer: WireGuardDevice, allowedIP: String, endpoint: String) throws {
        let result = try host.exec([
            "wg", "set", name, "private-key", privateKey, "listen-port", "51820", "peer", peer.publicKey,
            "allowed-ips", allowedIP, "endpoint", "\(endpoint):51820",
        ])
        #expect(result.status == 0, "wg set: \(result.errors)")
    }
}

/// VXLAN over WireGuard between two namespaced hosts joined by a veth "physical" link:
/// the segment MTU follows the tunnel's (1420 - 50 = 1370), guests ping across at that
/// full size with don't-fragment, the physical link carries only WireGuard, `vxlanctl
/// check` judges the configuration, and `vxlanctl firewall` drops VXLAN beside the tunnel.
@Suite(
    .serialized,
    .enabled(if: isRoot && hasWireGuardTools, "needs root, wireguard-tools and tcpdump (Scripts/install-dependencies)"))
struct WireGuardUnderlayTests {
    let folder: TemporaryFolder
    let hostA: NetworkNamespace
    let hostB: NetworkNamespace
    let wireGuardA: WireGuardDevice
    let wireGuardB: WireGuardDevice

    init() throws {
        folder = try TemporaryFolder()
        hostA = try NetworkNamespace("wgA")
        hostB = try NetworkNamespace("wgB")
        try hostA.ip("link", "add", "phy0", "type", "veth", "peer", "name", "phy0", "netns", hostB.name)
        for (host, address) in [(hostA, "203.0.113.1/24"), (hostB, "203.0.113.2/24")] {
            try host.ip("addr", "add", address, "dev", "phy0")
            try host.ip("link", "set", "phy0", "up")
        }
        wireGuardA = try WireGuardDevice(in: hostA, address: "10.99.0.1/24", folder: folder)
        wireGuardB = try WireGuardDevice(in: hostB, address: "10.99.0.2/24", folder: folder)
        try wireGuardA.connect(to: wireGuardB, allowedIP: "10.99.0.2/32", endpoint: "203.0.113.2")
        try wireGuardB.connect(to: wireGuardA, allowedIP: "10.99.0.1/32", endpoint: "203.0.113.1")
    }

    /// vxlan.conf of one host, over its WireGuard device, with `keys` added.
    private func config(_ device: WireGuardDevice, _ keys: String) throws -> String {
        try folder.write("\(device.name)-\(keys.hashValue).conf", "underlay = \"\(device.name)\"\n\(keys)")
    }

    /// Each host makes `vni` over WireGuard in `mode`; a guest namespace on each bridge
    /// takes the segment's MTU, as `<mtu>` gives a real guest. Both guests live as long as
    /// the caller keeps the pair (a namespace goes with its object).
    private func segment(_ vni: Int, _ mode: String, keysA: String, keysB: String) throws -> (
        a: NetworkNamespace, b: NetworkNamespace
    ) {
        let guestA = try NetworkNamespace("wgg\(vni)A")
        let guestB = try NetworkNamespace("wgg\(vni)B")
        for (host, keys, guest, address) in [
            (wireGuardA, keysA, guestA, "198.51.100.1/24"), (wireGuardB, keysB, guestB, "198.51.100.2/24"),
        ] {
            let ensure = try host.host.vxlanctl(
                "ensure", String(vni), "--config", try config(host, "mode = \"\(mode)\"\n\(keys)"))
            #expect(ensure.status == 0, "\(ensure.errors)")
            #expect(ensure.output.contains("VNI \(vni): brvx-\(vni) + vxlan\(vni) ready, mtu 1370"), "\(ensure.output)")
            try guest.plugGuest(into: host.host, tap: "vnet\(vni)", bridge: "brvx-\(vni)", address: address)
            try guest.ip("link", "set", "eth0", "mtu", "1370")
        }
        return (guestA, guestB)
    }

    /// Pings with don't-fragment at the segment's full MTU (1370 = 20 IP + 8 ICMP + 1342).
    private func pingsAtFullSize(_ guest: NetworkNamespace, attempts: Int = 10) throws -> Bool {
        for _ in 0..<attempts
        where try guest.exec(["ping", "-M", "do", "-s", "1342", "-c", "1", "-W", "1", "198.51.100.2"]).status == 0 {
            return true
        }
        return false
    }

    /// Unicast over WireGuard: MTU auto gives 1370, full-size DF pings cross, and a
    /// capture on the physical link counts WireGuard packets and not one VXLAN packet.
    @Test func testUnicastOverWireGuardCarriesFullSizeFramesAndNoPlaintextVXLAN() throws {
        let guests = try segment(
            5001, "unicast", keysA: "remotes = [\"10.99.0.2\"]\n", keysB: "remotes = [\"10.99.0.1\"]\n")
        defer { withExtendedLifetime(guests) {} }
        let guestA = guests.a
        #expect(try pingsAtFullSize(guestA), "full-size pings over \(wireGuardA.implementation) failed")
        #expect(try guestA.exec(["ping", "-M", "do", "-s", "1343", "-c", "1", "198.51.100.2"]).status != 0)

        let capture = "\(folder.path)/phy0.pcap"
        let errors = "\(folder.path)/tcpdump.err"
        let errorsFile = open(errors, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(errorsFile) }
        // Immediate mode: each packet is written as it comes, not when a buffer block
        // fills; root: Debian's tcpdump otherwise drops to a user that cannot write here.
        let tcpdump = try ChildProcess(
            [
                "ip", "netns", "exec", hostB.name, "tcpdump", "--immediate-mode", "-Z", "root", "-i", "phy0", "-n",
                "-U", "-w", capture, "udp",
            ],
            stderr: errorsFile)
        for _ in 0..<100 where !((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("listening") {
            usleep(50_000)
        }
        let sent = try guestA.exec(["ping", "-M", "do", "-s", "1342", "-c", "5", "-i", "0.2", "198.51.100.2"])
        tcpdump.stop()
        #expect(sent.output.contains("5 received"), "\(sent.output)")
        func count(_ filter: String) throws -> Int {
            try run("tcpdump", "-r", capture, "-n", filter).split(separator: "\n").count
        }
        let wireGuardPackets = try count("udp port 51820")
        let vxlanPackets = try count("udp port 8472")
        print(
            "capture on the physical link (\(wireGuardA.implementation)): \(wireGuardPackets) WireGuard, \(vxlanPackets) VXLAN"
        )
        #expect(
            wireGuardPackets >= 10,
            "5 echo requests and 5 replies; tcpdump said: \((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")"
        )
        #expect(vxlanPackets == 0, "plaintext VXLAN on the physical link")
    }

    /// EVPN mode over WireGuard: the device sends from the tunnel's address, learns
    /// nothing, and carries full-size frames once the remote VTEP is in its fdb (FRR's
    /// type-3 route installs this entry; here it is added by hand, as zebra would).
    @Test func testEVPNDevicesOverWireGuardCarryFullSizeFrames() throws {
        let guests = try segment(5002, "evpn", keysA: "", keysB: "")
        defer { withExtendedLifetime(guests) {} }
        let guestA = guests.a
        let device = try #require(try hostA.link("vxlan5002"))
        let vxlan = ((device["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any]) ?? [:]
        #expect(vxlan["local"] as? String == "10.99.0.1" && vxlan["learning"] as? Bool == false, "\(vxlan)")
        for (host, remote) in [(hostA, "10.99.0.2"), (hostB, "10.99.0.1")] {
            try run(
                "bridge", "-n", host.name, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan5002", "dst", remote)
        }
        #expect(try pingsAtFullSize(guestA), "full-size pings over \(wireGuardA.implementation) failed")
    }

    /// vxlanctl check over WireGuard: unicast with remotes the peers allow passes, a remote
    /// no peer allows fails, and multicast mode fails (WireGuard carries no multicast).
    @Test func testCheckJudgesModeAndRemotesAgainstTheTunnel() throws {
        let name = wireGuardA.name
        let good = try hostA.vxlanctl(
            "check", "--config", try config(wireGuardA, "mode = \"unicast\"\nremotes = [\"10.99.0.2\"]\n"))
        #expect(good.output.contains("PASS  underlay: \(name) is up, MTU 1420"), "\(good.output)")
        #expect(good.output.contains("PASS  tunnel: \(name) is point-to-point"), "\(good.output)")
        #expect(
            good.output.contains("PASS  wireguard: \(name): every remote (10.99.0.2) is inside a peer's allowed IPs"),
            "\(good.output)")

        let stray = try hostA.vxlanctl(
            "check", "--config",
            try config(wireGuardA, "mode = \"unicast\"\nremotes = [\"10.99.0.2\", \"10.99.0.3\"]\n"))
        #expect(stray.status == 1)
        #expect(
            stray.output.contains(
                "FAIL  wireguard: remotes 10.99.0.3 outside every allowed IP of \(name)'s peers (10.99.0.2/32)"),
            "\(stray.output)")

        let multicast = try hostA.vxlanctl("check", "--config", try config(wireGuardA, "mode = \"multicast\"\n"))
        #expect(multicast.status == 1)
        #expect(
            multicast.output.contains("FAIL  tunnel: mode = \"multicast\" over \(name), a point-to-point device"),
            "\(multicast.output)")
    }

    /// vxlanctl firewall over WireGuard: VXLAN through the tunnel passes, plaintext VXLAN
    /// sent to host A's physical address is dropped by the tunnel rule (its counter moves).
    @Test func testFirewallDropsVXLANBesideTheTunnel() throws {
        let guests = try segment(
            5003, "unicast", keysA: "remotes = [\"10.99.0.2\"]\n", keysB: "remotes = [\"10.99.0.1\"]\n")
        defer { withExtendedLifetime(guests) {} }
        let guestA = guests.a
        let configA = try config(wireGuardA, "mode = \"unicast\"\nremotes = [\"10.99.0.2\"]\n")
        let applied = try hostA.vxlanctl("firewall", "--apply", "--config", configA)
        #expect(
            applied.output
                == "applied table inet libvirt_vxlan: UDP 8472 accepted from 10.99.0.2/32, only through \(wireGuardA.name)\n",
            "\(applied.errors)")
        #expect(try pingsAtFullSize(guestA), "VXLAN through the tunnel dropped")
        // Plaintext "VXLAN" from B's physical address: the source is even a trusted one's
        // subnet neighbour; only the interface tells it from the tunnel's traffic.
        let injected = try hostB.exec(["bash", "-c", "printf 'plaintext' >/dev/udp/203.0.113.1/8472"])
        #expect(injected.status == 0, "\(injected.errors)")
        let chain = try hostA.exec(["nft", "list", "chain", "inet", "libvirt_vxlan", "input"]).output
        let rule = chain.split(separator: "\n").first { $0.contains("VXLAN outside the tunnel") } ?? ""
        #expect(rule.contains("counter packets 1 "), "\(chain)")
    }
}

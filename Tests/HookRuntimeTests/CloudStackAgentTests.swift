import Foundation
import NamespaceTestSupport
import Testing

/// CloudStack's shell procedure (what its agent's modifyvxlan.sh does), for a peer host.
private let cloudStackProcedure = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Benchmarks/cloudstack-procedure")
    .path

/// A CloudStack KVM host's network: the NIC `eth1` is a port of `cloudbr1`, which holds
/// the address (the agent's traffic label is cloudbr1, its `-p` eth1). With no
/// `peer`, eth1's other end stays in the namespace; with one, it is the peer's eth1 (whose
/// layout then follows with `hasNIC`).
private func cloudStackLayout(
    _ host: NetworkNamespace, address: String, peer: NetworkNamespace? = nil, hasNIC: Bool = false
) throws {
    if hasNIC {
        // The peer's end of the veth pair made with the other host.
    } else if let peer {
        try host.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", peer.name)
    } else {
        try host.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
        try host.ip("link", "set", "eth1p", "up")
    }
    try host.ip("link", "add", "cloudbr1", "type", "bridge")
    try host.ip("link", "set", "eth1", "master", "cloudbr1")
    try host.ip("addr", "add", address, "dev", "cloudbr1")
    try host.ip("link", "set", "eth1", "up")
    try host.ip("link", "set", "cloudbr1", "up")
}

/// The two programs that answer the agent: the package's entry (modifyvxlan.sh executes the
/// hook worker with `--cloudstack-agent`: no vxlanctl start-up) and `vxlanctl modifyvxlan`.
enum AgentEntry: CaseIterable, Sendable {
    case worker, vxlanctl
}

extension HookHost {
    /// What the agent runs: `modifyvxlan.sh ARGS...`, through `entry`, on this host's
    /// configuration and state.
    func agent(_ arguments: [String], through entry: AgentEntry) throws -> CommandResult {
        switch entry {
        case .worker:
            try namespace.exec(
                [builtProduct("libvirt-vxlan-hook"), "--cloudstack-agent"] + arguments,
                environment: ["LIBVIRT_VXLAN_STATE_DIR": state, "LIBVIRT_VXLAN_CONFIG": config])
        case .vxlanctl:
            try namespace.exec(
                [builtProduct("vxlanctl"), "modifyvxlan", "--config", config] + arguments,
                environment: ["LIBVIRT_VXLAN_STATE_DIR": state])
        }
    }

    func add(_ vni: Int, through entry: AgentEntry = .worker) throws -> CommandResult {
        try agent(["-o", "add", "-v", "\(vni)", "-p", "eth1", "-b", "brvx-\(vni)"], through: entry)
    }

    /// The agent passes `-p vx` at delete: the word between "br" and "-" in `brvx-VNI`.
    func delete(_ vni: Int, through entry: AgentEntry = .worker) throws -> CommandResult {
        try agent(["-o", "delete", "-v", "\(vni)", "-p", "vx", "-b", "brvx-\(vni)"], through: entry)
    }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct CloudStackAgentTests {
    /// No configuration at all: CloudStack's own devices, on cloudbr1 (eth1 resolved to
    /// its bridge), as the agent calls for a guest's start and stop.
    @Test(arguments: AgentEntry.allCases)
    func testAgentCallsForAGuestStartAndStop(_ entry: AgentEntry) throws {
        let host = try HookHost("agent-\(entry)", config: "", addUnderlay: false)
        try cloudStackLayout(host.namespace, address: "192.0.2.1/24")
        let ready = "VNI 5001: brvx-5001 + vxlan5001 ready, group 239.0.19.137, mtu 1450\n"

        let add = try host.add(5001, through: entry)
        #expect(add.status == 0 && add.output == ready, "\(add.output)\(add.errors)")
        let vxlan = try #require(try host.namespace.link("vxlan5001"))
        let data = try #require((vxlan["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any])
        #expect(data["id"] as? Int == 5001 && data["group"] as? String == "239.0.19.137")
        #expect(data["link"] as? String == "cloudbr1" && data["ttl"] as? Int == 10 && data["port"] as? Int == 8472)
        #expect(vxlan["master"] as? String == "brvx-5001")
        let links = try host.namespace.linkNames()

        let again = try host.add(5001, through: entry)
        #expect(again.status == 0 && again.output == ready, "\(again.output)")
        #expect(try host.namespace.linkNames() == links)

        try host.addPort("vnet0", to: "brvx-5001")
        let kept = try host.delete(5001, through: entry)
        #expect(
            kept.status == 0 && kept.output == "VNI 5001: kept, brvx-5001 still has ports vnet0\n", "\(kept.output)")
        #expect(try host.namespace.linkNames() == (links + ["vnet0", "vnet0p"]).sorted())

        try host.namespace.ip("link", "del", "vnet0")
        let removed = try host.delete(5001, through: entry)
        #expect(removed.status == 0, "\(removed.output)")
        #expect(removed.output == "VNI 5001: deleted vxlan5001, deleted bridge brvx-5001\n")
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"))

        let absent = try host.delete(5001, through: entry)
        #expect(absent.status == 0 && absent.output == "VNI 5001: nothing to remove\n")
    }

    /// Both entries read the agent's command line with the same parser: every line, CloudStack's
    /// own and hostile ones, gets the same status and the same words from each, 64 and one
    /// line on stderr for one that cannot be read (vxlanctl's ArgumentParser takes out only
    /// its own `--config`, given first here).
    @Test func testBothEntriesAnswerEveryCommandLineAlike() throws {
        let host = try HookHost("agent-lines", config: "", addUnderlay: false)
        try cloudStackLayout(host.namespace, address: "192.0.2.1/24")
        let ready = "VNI 5001: brvx-5001 + vxlan5001 ready, group 239.0.19.137, mtu 1450\n"
        let lines: [([String], Int32, String)] = [
            (["-v", "5001", "-p", "eth1", "-b", "brvx-5001", "-o", "add"], 0, ready),
            (["-oadd", "-v5001", "-peth1", "-bbrvx-5001"], 0, ready),
            (["-o", "add", "-v", "5001", "-p", "hello", "-b", "brvx-5001"], 1, ""),
            (["-6o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001", "--"], 1, ""),
            (["-o", "delete", "-v", "5002", "-p", "vx", "-b", "brvx-5002"], 0, "VNI 5002: nothing to remove\n"),
            (["-o", "add", "-v", "5001", "-p", "eth1"], 64, ""),
            (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001", "--", "--help"], 64, ""),
            (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001", "--verbose"], 64, ""),
            (["-o", "add", "-v", "05001", "-p", "eth1", "-b", "brvx-5001"], 64, ""),
            (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001", "-d", "true"], 64, ""),
            ([], 64, ""),
        ]
        for (arguments, status, output) in lines {
            let worker = try host.agent(arguments, through: .worker)
            let vxlanctl = try host.agent(arguments, through: .vxlanctl)
            #expect(worker.status == status, "\(arguments): \(worker.output)\(worker.errors)")
            #expect(vxlanctl.status == worker.status, "\(arguments): \(vxlanctl.output)\(vxlanctl.errors)")
            #expect(vxlanctl.output == worker.output && vxlanctl.errors == worker.errors, "\(arguments)")
            if status == 0 { #expect(worker.output == output, "\(arguments)") }
            if status == 64 {
                #expect(worker.output.isEmpty && worker.errors.hasPrefix("modifyvxlan: "), "\(arguments)")
                #expect(worker.errors.split(separator: "\n").count == 1, "\(arguments): \(worker.errors)")
            }
        }
    }

    /// With the hook installed too: the agent makes the segment before libvirt starts the
    /// guest, the hook records the guest, so the agent's delete keeps the segment while
    /// the guest runs; the guest's release removes it.
    @Test(arguments: AgentEntry.allCases)
    func testAgentDeleteKeepsASegmentTheHookRecordsAGuestOn(_ entry: AgentEntry) throws {
        let host = try HookHost("agenthook-\(entry)", config: "underlay = \"cloudbr1\"\n", addUnderlay: false)
        try cloudStackLayout(host.namespace, address: "192.0.2.1/24")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.add(5001, through: entry).status == 0)
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        #expect(host.users(5001) == ["domain-\(uuid(1))"])

        let kept = try host.delete(5001, through: entry)
        #expect(kept.status == 0 && kept.output == "VNI 5001: kept, used by g1\n", "\(kept.output)")
        #expect(try host.segmentIsComplete(5001))

        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        // The agent's delete waits for the lock the hook's teardown holds, and finds nothing.
        let after = try host.delete(5001, through: entry)
        #expect(after.status == 0 && after.output == "VNI 5001: nothing to remove\n", "\(after.output)")
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"))
    }

    /// Our host (vxlanctl modifyvxlan) and a host set up by CloudStack's procedure on the
    /// same VNI: their guests reach each other, so the devices and groups match.
    @Test func testTrafficWithAHostSetUpByCloudStacksProcedure() throws {
        let ours = try HookHost("agent-ours", config: "", addUnderlay: false)
        let theirs = try NetworkNamespace("agent-cloudstack")
        try cloudStackLayout(ours.namespace, address: "192.0.2.1/24", peer: theirs)
        try cloudStackLayout(theirs, address: "192.0.2.2/24", hasNIC: true)
        #expect(try ours.add(5001).status == 0)
        let procedure = try theirs.exec([cloudStackProcedure, "add", "5001", "eth1"])
        #expect(procedure.status == 0, "\(procedure.errors)")

        let guestA = try NetworkNamespace("agent-guestA")
        let guestB = try NetworkNamespace("agent-guestB")
        try guestA.plugGuest(into: ours.namespace, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.1/24")
        try guestB.plugGuest(into: theirs, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.2/24")
        #expect(try guestA.pings("198.51.100.2"), "no ping from our host to CloudStack's")
        #expect(try guestB.pings("198.51.100.1"))
    }

    /// A bridge of that name that libvirt-vxlan did not make: add refuses to change it
    /// (one line, status 1), delete never removes it.
    @Test func testAForeignBridgeIsNeverDeleted() throws {
        let host = try HookHost("agent-foreign", config: "", addUnderlay: false)
        try cloudStackLayout(host.namespace, address: "192.0.2.1/24")
        try host.namespace.ip("link", "add", "brvx-5001", "type", "bridge")
        try host.namespace.ip("link", "set", "brvx-5001", "up")
        let add = try host.add(5001)
        #expect(add.status == 1)
        #expect(
            add.output.hasPrefix(
                "VNI 5001: bridge brvx-5001 exists but was not created by libvirt-vxlan and has no matching vxlan port"),
            "\(add.output)")
        #expect(try !host.exists("vxlan5001"))
        let deleted = try host.delete(5001)
        #expect(deleted.status == 0, "\(deleted.output)")
        #expect(deleted.output == "VNI 5001: brvx-5001 was not created by libvirt-vxlan; left in place\n")
        #expect(try host.exists("brvx-5001"))
    }

    /// net.ipv4.igmp_max_memberships (20 by default in a new namespace): the 21st
    /// multicast VNI fails with status 1 and one line on stdout that names the sysctl,
    /// and leaves nothing of itself.
    @Test func testTheTwentyFirstMulticastVNIFailsWithTheIGMPLimitsReason() throws {
        let host = try HookHost("agent-igmp", config: "", addUnderlay: false)
        try cloudStackLayout(host.namespace, address: "192.0.2.1/24")
        let limit = try host.namespace.exec(["sysctl", "-n", "net.ipv4.igmp_max_memberships"]).output
        #expect(limit == "20\n")
        for vni in 5001...5020 { #expect(try host.add(vni).status == 0) }
        let before = try host.namespace.linkNames()

        let failed = try host.add(5021)
        #expect(failed.status == 1)
        #expect(failed.output.split(separator: "\n").count == 1, "\(failed.output)")
        #expect(failed.output.hasPrefix("VNI 5021: cannot create vxlan5021: "), "\(failed.output)")
        #expect(failed.output.contains("net.ipv4.igmp_max_memberships"))
        #expect(try host.namespace.linkNames() == before)
    }
}

/// `vxlanctl cloudstack` on /usr/share/modifyvxlan.sh, in a private mount namespace whose
/// /usr/share and /usr/libexec are folders of the test's own.
@Suite(.enabled(if: isRoot, "needs root for a private mount namespace"))
struct CloudStackLinkTests {
    let folder: TemporaryFolder
    let script: String
    let entry: String

    init() throws {
        folder = try TemporaryFolder()
        try FileManager.default.createDirectory(
            atPath: folder.path + "/libexec/libvirt-vxlan", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder.path + "/share", withIntermediateDirectories: true)
        entry = try folder.write("libexec/libvirt-vxlan/modifyvxlan.sh", "#!/bin/sh\n")
        chmod(entry, 0o755)
        script = folder.path + "/share/modifyvxlan.sh"
    }

    /// `vxlanctl cloudstack ARGS...` with the test's folders as /usr/share and /usr/libexec.
    func cloudstack(_ arguments: String...) throws -> CommandResult {
        let mounts =
            "mount --bind \"$1\"/share /usr/share && mount --bind \"$1\"/libexec /usr/libexec && shift && exec \"$@\""
        return try capture(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts, "sh", folder.path]
                + [builtProduct("vxlanctl"), "cloudstack"] + arguments)
    }

    func target() -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: script) }

    @Test func testEnableLinksTheScriptAndDisableRemovesIt() throws {
        let status = try cloudstack("status")
        #expect(status.output.hasPrefix("disabled: /usr/share/modifyvxlan.sh does not exist"), "\(status.output)")
        let enable = try cloudstack("enable")
        #expect(enable.status == 0, "\(enable.errors)")
        #expect(enable.output.contains("systemctl restart cloudstack-agent"))
        #expect(target() == "/usr/libexec/libvirt-vxlan/modifyvxlan.sh")
        #expect(try cloudstack("enable").output.hasPrefix("already enabled"))
        #expect(try cloudstack("status").output.hasPrefix("enabled: "))

        let disable = try cloudstack("disable")
        #expect(disable.status == 0 && disable.output.contains("removed /usr/share/modifyvxlan.sh"))
        #expect(!FileManager.default.fileExists(atPath: script) && target() == nil)
        #expect(try cloudstack("disable").output.hasPrefix("not enabled"))
    }

    @Test func testAForeignScriptIsLeftAloneAndSaidSo() throws {
        let evpn = "#!/bin/sh\n# CloudStack's EVPN script\n"
        _ = try folder.write("share/modifyvxlan.sh", evpn)
        let enable = try cloudstack("enable")
        #expect(enable.status == 1)
        #expect(
            enable.errors
                == "vxlanctl: /usr/share/modifyvxlan.sh is a file that is not libvirt-vxlan's; left alone: move it away first to enable\n"
        )
        let disable = try cloudstack("disable")
        #expect(disable.status == 3)
        #expect(
            disable.errors == "vxlanctl: /usr/share/modifyvxlan.sh is a file that is not libvirt-vxlan's; left alone\n")
        #expect(try String(contentsOfFile: script, encoding: .utf8) == evpn)
        #expect(try cloudstack("status").output.hasPrefix("not libvirt-vxlan's: "))
    }

    @Test func testAForeignLinkIsLeftAlone() throws {
        let evpn = "/usr/share/cloudstack-common/scripts/vm/network/vnet/modifyvxlan-evpn.sh"
        try FileManager.default.createSymbolicLink(atPath: script, withDestinationPath: evpn)
        #expect(try cloudstack("enable").status == 1)
        #expect(try cloudstack("disable").status == 3)
        #expect(target() == evpn)
    }
}

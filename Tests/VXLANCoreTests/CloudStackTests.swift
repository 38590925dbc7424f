import Testing

@testable import VXLANCore

/// `vxlanctl modifyvxlan`'s reading of the agent's call, and CloudStack's group rules.
struct CloudStackTests {
    private func request(
        _ vni: UInt32, pif: String = "eth1", bridge: String? = nil, ipv6: Bool = false
    ) throws -> AgentRequest {
        AgentRequest(
            operation: .add, vni: try VNI(vni), physicalInterface: try InterfaceName(pif),
            bridge: try InterfaceName(bridge ?? "brvx-\(vni)"), ipv6: ipv6)
    }

    /// CloudStack's script prints each byte in decimal into an IPv6 group: 5001 is
    /// 0.19.137, so ff05::0:19:137, whose last two groups are 0x19 and 0x137.
    @Test(arguments: [
        (UInt32(5001), "ff05::19:137"), (1, "ff05::1"), (256, "ff05::1:0"), (16_777_215, "ff05::255:255:255"),
        (0x0A_0B0C, "ff05::10:11:12"),
    ])
    func testIPv6GroupWritesEachByteInDecimalAsCloudStackDoes(vni: UInt32, group: String) throws {
        #expect(CloudStackAgent.ipv6Group(for: try VNI(vni)) == IPAddress(group))
    }

    @Test func testWithoutConfigurationAddIsCloudStacksOwnMulticastSegment() throws {
        let plan = try Config().plan(for: request(5001))
        #expect(plan.mode == .multicast)
        #expect(plan.underlay?.rawValue == "eth1")
        #expect(plan.group == IPAddress("239.0.19.137"))
        #expect(plan.ttl == 10 && plan.dstport == 8472)
        #expect(plan.names.bridge.rawValue == "brvx-5001" && plan.names.vxlan.rawValue == "vxlan5001")
        #expect(plan.family == .ipv4)
    }

    @Test func testTheAgentsBridgeNameWinsOverTheTemplate() throws {
        let plan = try Config().plan(for: request(5001, bridge: "brvx5001"))
        #expect(plan.names.bridge.rawValue == "brvx5001")
        #expect(try Config().names(for: request(5001, bridge: "brvx5001")).bridge.rawValue == "brvx5001")
    }

    @Test func testIPv6UnderlayTakesCloudStacksIPv6Group() throws {
        let plan = try Config().plan(for: request(5001, ipv6: true))
        #expect(plan.group == IPAddress("ff05::19:137"))
        #expect(plan.family == .ipv6)
    }

    @Test func testIPv6UnderlayWithAnIPv6GroupNetworkUsesTheNetwork() throws {
        var config = Config()
        config.groupPolicy = .network(try #require(IPNetwork("ff05::/104")))
        #expect(try config.plan(for: request(5001, ipv6: true)).group == IPAddress("ff05::1389"))
    }

    @Test func testIPv6UnderlayInEVPNModeTakesTheUnderlaysIPv6Address() throws {
        var config = Config()
        config.mode = .evpn
        let plan = try config.plan(for: request(5001, ipv6: true))
        #expect(plan.family == .ipv6 && plan.local == nil && plan.group == nil)
    }

    @Test func testIPv6UnderlayAgainstIPv4SettingsIsRefused() throws {
        var config = Config()
        config.groupPolicy = .network(try #require(IPNetwork("239.1.0.0/16")))
        #expect(throws: PlanError.familyMismatch(try VNI(5001))) { try config.plan(for: request(5001, ipv6: true)) }
        config = Config()
        config.mode = .unicast
        config.remotes = [try #require(IPAddress("192.0.2.2"))]
        #expect(throws: PlanError.familyMismatch(try VNI(5001))) { try config.plan(for: request(5001, ipv6: true)) }
    }

    @Test func testVNIOutsideTheRangesIsRefused() throws {
        var config = Config()
        config.vniRanges = [VNIRange(try VNI(100)...VNI(200))]
        #expect(throws: PlanError.self) { try config.plan(for: request(5001)) }
    }

    @Test func testOnlyALinkToOurEntryIsOurs() {
        #expect(AgentScriptState(exists: false, linkTarget: nil) == .absent)
        #expect(AgentScriptState(exists: true, linkTarget: CloudStackAgent.entryPath) == .ours)
        #expect(AgentScriptState(exists: true, linkTarget: nil) == .foreignFile)
        let evpn = "cloudstack-common/scripts/vm/network/vnet/modifyvxlan-evpn.sh"
        #expect(AgentScriptState(exists: true, linkTarget: evpn) == .foreignLink(target: evpn))
        // A relative spelling of our path is still someone else's link: we never made it.
        let relative = "../libexec/libvirt-vxlan/modifyvxlan.sh"
        #expect(AgentScriptState(exists: true, linkTarget: relative) == .foreignLink(target: relative))
        #expect("\(AgentScriptState.foreignFile)" == "/usr/share/modifyvxlan.sh is a file that is not libvirt-vxlan's")
    }

    /// The lean entry reads the agent's command line itself, as the script's getopts does.
    @Test func testTheAgentsCommandLineIsReadAsGetoptsReadsIt() throws {
        let add = try AgentRequest(parsingArguments: ["-o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001"])
        #expect(add == (try request(5001)))
        let reordered = try AgentRequest(parsingArguments: ["-b", "brvx-5001", "-6", "-v5001", "-oadd", "-p", "eth1"])
        #expect(reordered == (try request(5001, ipv6: true)))
        let delete = try AgentRequest(parsingArguments: ["-o", "delete", "-v", "7", "-p", "vx", "-b", "brvx-7"])
        #expect(delete.operation == .delete && delete.physicalInterface.rawValue == "vx")
    }

    @Test(arguments: [
        (["-o", "add", "-v", "5001", "-p", "eth1"], "missing -b; usage: -o add|delete -v VNI -p PIF -b BRIDGE [-6]"),
        (["-o", "frob", "-v", "5001", "-p", "eth1", "-b", "br0"], "-o takes add or delete, not frob"),
        (["-o", "add", "-v", "0", "-p", "eth1", "-b", "br0"], "VNI 0 is out of range (1-16777215)"),
        (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "br0", "extra"], "unexpected argument extra"),
        (["-o", "add", "-v", "1", "-v", "2", "-p", "eth1", "-b", "br0"], "-v given twice"),
        (["-o", "add", "-x", "1"], "unknown option -x"),
        (["-o", "add", "-v"], "-v needs a value"),
        (
            ["-o", "add", "-v", "1", "-p", "a/b", "-b", "br0"],
            "interface name 'a/b' may only hold printable ASCII without '/', ':' or spaces"
        ),
    ])
    func testABadCommandLineIsRefusedWithOneLine(arguments: [String], message: String) {
        #expect(throws: AgentUsageError(message)) { try AgentRequest(parsingArguments: arguments) }
    }
}

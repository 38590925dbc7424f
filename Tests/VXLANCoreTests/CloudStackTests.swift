import Testing

@testable import VXLANCore

/// `vxlanctl modifyvxlan`'s reading of the agent's call, and CloudStack's group rules.
struct CloudStackTests {
    private func request(
        _ vni: UInt32, operation: AgentRequest.Operation = .add, pif: String = "eth1", bridge: String? = nil,
        ipv6: Bool = false
    ) throws -> AgentRequest {
        AgentRequest(
            operation: operation, vni: try VNI(vni), physicalInterface: try InterfaceName(pif),
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

    /// CloudStack's agent (BridgeVifDriver) passes `-v VNI -p PIF -b BRIDGE -o add` to make
    /// a bridge and `-o delete -v VNI -p PNAME -b BRIDGE` to remove it, PNAME being the word
    /// between "br" and "-" in the bridge's name (`vx` for brvx-5001); `-6` for IPv6.
    @Test func testCloudStacksOwnCommandLinesAreRead() throws {
        let add = try AgentRequest(parsingArguments: ["-v", "5001", "-p", "cloudbr1", "-b", "brvx-5001", "-o", "add"])
        #expect(add == (try request(5001, pif: "cloudbr1")))
        let delete = try AgentRequest(parsingArguments: ["-o", "delete", "-v", "7", "-p", "vx", "-b", "brvx-7"])
        #expect(delete == (try request(7, operation: .delete, pif: "vx")))
        let ipv6 = try AgentRequest(
            parsingArguments: ["-o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001", "-6"])
        #expect(ipv6 == (try request(5001, ipv6: true)))
        #expect(AgentRequest.usage == "-o add|delete -v VNI -p PIF -b BRIDGE [-6]")
    }

    /// Whatever else getopts 'o:v:p:b:6' takes: any order, values attached, -6 grouped with
    /// another option, a value that starts with "-", a trailing `--`.
    @Test(arguments: [
        ["-b", "brvx-5001", "-6", "-v5001", "-oadd", "-p", "eth1"],
        ["-6oadd", "-v", "5001", "-peth1", "-bbrvx-5001"],
        ["-6o", "add", "-v", "5001", "-p", "eth1", "-b", "brvx-5001"],
        ["-o", "add", "-6", "-6", "-v", "5001", "-p", "eth1", "-b", "brvx-5001", "--"],
    ])
    func testTheAgentsCommandLineIsReadAsGetoptsReadsIt(arguments: [String]) throws {
        #expect(try AgentRequest(parsingArguments: arguments) == (try request(5001, ipv6: true)))
    }

    @Test func testAValueMayStartWithADash() throws {
        // getopts takes the next argument whatever it is: here "-p" is -v's value.
        #expect(throws: AgentUsageError("VNI '-p' is not a decimal number")) {
            try AgentRequest(parsingArguments: ["-o", "add", "-v", "-p", "-p", "eth1", "-b", "br0"])
        }
        let dashed = try AgentRequest(parsingArguments: ["-o", "add", "-v", "1", "-p", "-eth1", "-b", "br0"])
        #expect(dashed.physicalInterface.rawValue == "-eth1")
    }

    /// A hostile or broken command line: one line for the agent's log, and nothing done.
    @Test(arguments: [
        ([], "missing -o; usage: -o add|delete -v VNI -p PIF -b BRIDGE [-6]"),
        (["-o", "add", "-v", "5001", "-p", "eth1"], "missing -b; usage: -o add|delete -v VNI -p PIF -b BRIDGE [-6]"),
        (["-o", "add", "-p", "eth1", "-b", "br0"], "missing -v; usage: -o add|delete -v VNI -p PIF -b BRIDGE [-6]"),
        (["-o", "delete", "-v", "7", "-b", "brvx-7"], "missing -p; usage: -o add|delete -v VNI -p PIF -b BRIDGE [-6]"),
        (["-o", "frob", "-v", "5001", "-p", "eth1", "-b", "br0"], "-o takes add or delete, not frob"),
        (["-o", "ADD", "-v", "5001", "-p", "eth1", "-b", "br0"], "-o takes add or delete, not ADD"),
        (["-o", "", "-v", "5001", "-p", "eth1", "-b", "br0"], "-o takes add or delete, not "),
        (["-o", "add", "-v", "0", "-p", "eth1", "-b", "br0"], "VNI 0 is out of range (1-16777215)"),
        (["-o", "add", "-v", "16777216", "-p", "eth1", "-b", "br0"], "VNI 16777216 is out of range (1-16777215)"),
        (["-o", "add", "-v", "05001", "-p", "eth1", "-b", "br0"], "VNI '05001' is not a decimal number"),
        (["-o", "add", "-v", "+5001", "-p", "eth1", "-b", "br0"], "VNI '+5001' is not a decimal number"),
        (["-o", "add", "-v", "", "-p", "eth1", "-b", "br0"], "VNI '' is not a decimal number"),
        (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "br0", "extra"], "unexpected argument extra"),
        (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "br0", "--", "extra"], "unexpected argument extra"),
        (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "br0", ""], "unexpected argument "),
        (["-o", "add", "-v", "5001", "-p", "eth1", "-b", "br0", "-"], "unexpected argument -"),
        (["-o", "add", "-v", "1", "-v", "2", "-p", "eth1", "-b", "br0"], "-v given twice"),
        (["-oadd", "-o", "delete", "-v", "1", "-p", "eth1", "-b", "br0"], "-o given twice"),
        (["-o", "add", "-x", "1"], "unknown option -x"),
        (["-6x", "-o", "add"], "unknown option -x"),
        (["-\u{7}"], "unknown option -\\x7"),
        (["-o", "add", "-v", "1", "-p", "eth1", "-b", "br0", "-d", "true"], "unknown option -d"),
        (["--config", "/etc/passwd", "-o", "add"], "unknown option --config"),
        (["-o", "add", "-v"], "-v needs a value"),
        (["-o", "add", "-v", "1", "-p", "eth1", "-b"], "-b needs a value"),
        (
            ["-o", "add", "-v", "1", "-p", "a/b", "-b", "br0"],
            "interface name 'a/b' may only hold printable ASCII without '/', ':' or spaces"
        ),
        (
            ["-o", "add", "-v", "1", "-p", "eth1", "-b", "brvx-12345678901"],
            "interface name 'brvx-12345678901' is 16 characters; Linux allows 15"
        ),
        (["-o", "add", "-v", "1", "-p", "eth1", "-b", ""], "interface name is empty"),
        (
            ["-o", "add", "-v", "1", "-p", "eth1\n", "-b", "br0"],
            "interface name 'eth1\\xa' may only hold printable ASCII without '/', ':' or spaces"
        ),
    ])
    func testABadCommandLineIsRefusedWithOneLine(arguments: [String], message: String) {
        #expect(throws: AgentUsageError(message)) { try AgentRequest(parsingArguments: arguments) }
    }
}

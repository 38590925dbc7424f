import Testing

@testable import VXLANCore

private func configuration(_ text: String) throws -> Config { try Config(parsingTOML: Array(text.utf8)) }

struct FirewallRulesTests {
    func network(_ text: String) throws -> IPNetwork { try #require(IPNetwork(text)) }

    @Test func testUnicastTrustsItsRemotesOnly() throws {
        let config = try configuration("mode = \"unicast\"\nremotes = [\"192.0.2.2\", \"192.0.2.3\"]\n")
        let rules = try FirewallRules(config: config, underlaySubnets: [try network("192.0.2.0/24")], peers: [])
        #expect(rules.sources.map(\.description) == ["192.0.2.2/32", "192.0.2.3/32"])
        #expect(rules.script.contains("elements = { 192.0.2.2/32, 192.0.2.3/32 }"))
        #expect(rules.script.contains("udp dport 8472 ip saddr @vteps4 accept"))
        #expect(!rules.script.contains("vteps6"))
    }

    @Test func testMulticastTrustsTheUnderlaySubnetAndPeersOnce() throws {
        let config = try configuration("dstport = 4789\n")
        let subnet = try network("198.51.100.0/24")
        let rules = try FirewallRules(
            config: config, underlaySubnets: [subnet], peers: [subnet, try network("203.0.113.7/32")])
        #expect(rules.sources.map(\.description) == ["198.51.100.0/24", "203.0.113.7/32"])
        #expect(rules.script.contains("udp dport 4789 ip saddr @vteps4 accept"))
        #expect(rules.script.contains("udp dport 4789 counter drop"))
    }

    @Test func testIPv6SourcesGetAnIP6Set() throws {
        let config = try configuration("mode = \"evpn\"\nlocal = \"2001:db8::1\"\n")
        let rules = try FirewallRules(config: config, underlaySubnets: [try network("2001:db8::/64")], peers: [])
        #expect(rules.script.contains("type ipv6_addr; flags interval"))
        #expect(rules.script.contains("udp dport 8472 ip6 saddr @vteps6 accept"))
        #expect(!rules.script.contains("@vteps4"))
    }

    /// One nft transaction that replaces only our table, whether or not it exists.
    @Test func testScriptReplacesOnlyItsOwnTable() throws {
        let rules = try FirewallRules(config: Config(), underlaySubnets: [try network("192.0.2.0/24")], peers: [])
        let lines = rules.script.split(separator: "\n").map(String.init)
        #expect(
            Array(lines[1...3]) == [
                "table inet libvirt_vxlan", "delete table inet libvirt_vxlan", "table inet libvirt_vxlan {",
            ])
        #expect(!rules.script.contains("flush ruleset"))
        #expect(FirewallRules.removalScript == "table inet libvirt_vxlan\ndelete table inet libvirt_vxlan\n")
    }

    /// Over a WireGuard underlay, VXLAN that arrives on any other interface is plaintext
    /// from the physical network: dropped before any source is trusted.
    @Test func testTunnelUnderlayDropsVXLANFromEveryOtherInterfaceFirst() throws {
        let config = try configuration("underlay = \"wg0\"\nmode = \"unicast\"\nremotes = [\"10.0.0.2\"]\n")
        let rules = try FirewallRules(config: config, underlaySubnets: [], peers: [], tunnel: InterfaceName("wg0"))
        let lines = rules.script.split(separator: "\n").map { $0.trimmingPrefix(while: { $0 == " " }) }
        let drop = "udp dport 8472 iifname != \"wg0\" counter drop comment \"VXLAN outside the tunnel wg0\""
        let accept = "udp dport 8472 ip saddr @vteps4 accept"
        let dropLine = try #require(lines.firstIndex(of: drop[...]), "\(rules.script)")
        #expect(dropLine < (lines.firstIndex(of: accept[...]) ?? 0))
        #expect(
            throws: FirewallRules.Error.unquotableTunnel(try InterfaceName("wg\"0")),
            performing: {
                try FirewallRules(config: config, underlaySubnets: [], peers: [], tunnel: InterfaceName("wg\"0"))
            })
        #expect(try !FirewallRules(config: config, underlaySubnets: [], peers: []).script.contains("iifname"))
    }

    @Test func testNoKnownSourceIsAnError() throws {
        #expect(throws: FirewallRules.Error.noSources(.multicast)) {
            try FirewallRules(config: try configuration("mode = \"multicast\"\n"), underlaySubnets: [], peers: [])
        }
    }

    @Test(arguments: [
        ("192.0.2.77", 24, "192.0.2.0/24"), ("10.1.2.3", 8, "10.0.0.0/8"), ("2001:db8::5", 64, "2001:db8::/64"),
    ])
    func testSubnetOfAnAddressClearsTheHostBits(address: String, length: Int, subnet: String) throws {
        #expect(IPNetwork(containing: try #require(IPAddress(address)), prefixLength: length).description == subnet)
    }
}

import NamespaceTestSupport
import Testing

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct FirewallTests {
    /// Two hosts on a unicast overlay. Host A's rules first trust B (its remote): the
    /// guests ping. Rules that trust only another address make A drop B's VXLAN: no
    /// ping, and the drop counter moves. --remove restores the traffic, and the
    /// operator's own table survives all of it.
    @Test func testRulesAcceptKnownVTEPsDropOthersAndTouchNoOtherTable() throws {
        let hostA = try NetworkNamespace("fwA")
        let hostB = try NetworkNamespace("fwB")
        let guestA = try NetworkNamespace("fwgA")
        let guestB = try NetworkNamespace("fwgB")
        try hostA.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", hostB.name)
        for (host, address) in [(hostA, "192.0.2.1/24"), (hostB, "192.0.2.2/24")] {
            try host.ip("addr", "add", address, "dev", "ul0")
            try host.ip("link", "set", "ul0", "up")
        }
        let folder = try TemporaryFolder()
        let unicast = "underlay = \"ul0\"\nmode = \"unicast\"\n"
        let configA = try folder.write("a.conf", unicast + "remotes = [\"192.0.2.2\"]\n")
        let configB = try folder.write("b.conf", unicast + "remotes = [\"192.0.2.1\"]\n")
        let strangers = try folder.write("strangers.conf", unicast + "remotes = [\"192.0.2.99\"]\n")
        #expect(try hostA.vxlanctl("ensure", "5001", "--config", configA).status == 0)
        #expect(try hostB.vxlanctl("ensure", "5001", "--config", configB).status == 0)
        try guestA.plugGuest(into: hostA, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.1/24")
        try guestB.plugGuest(into: hostB, tap: "vnet0", bridge: "brvx-5001", address: "198.51.100.2/24")
        #expect(try hostA.exec(["nft", "add", "table", "inet", "operator"]).status == 0)

        let printed = try hostA.vxlanctl("firewall", "--config", configA)
        #expect(printed.status == 0, "\(printed.errors)")
        #expect(printed.output.contains("elements = { 192.0.2.2/32 }"))
        #expect(try hostA.exec(["nft", "list", "tables"]).output == "table inet operator\n", "printing applied rules")

        let applied = try hostA.vxlanctl("firewall", "--apply", "--config", configA)
        #expect(applied.output == "applied table inet libvirt_vxlan: UDP 8472 accepted from 192.0.2.2/32\n")
        #expect(try guestA.pings("198.51.100.2"), "trusted VTEP dropped")

        #expect(try hostA.vxlanctl("firewall", "--apply", "--config", strangers).status == 0)
        #expect(try !guestA.pings("198.51.100.2", attempts: 3), "VXLAN from an untrusted VTEP got through")
        let counted = try hostA.exec(["nft", "list", "chain", "inet", "libvirt_vxlan", "input"]).output
        #expect(!counted.contains("counter packets 0 "), "no drop counted:\n\(counted)")

        let removed = try hostA.vxlanctl("firewall", "--remove")
        #expect(removed.output == "removed table inet libvirt_vxlan\n", "\(removed.errors)")
        #expect(try guestA.pings("198.51.100.2"))
        #expect(try hostA.exec(["nft", "list", "tables"]).output == "table inet operator\n")
        #expect(try hostA.vxlanctl("firewall", "--remove").status == 0, "removing an absent table must succeed")
    }

    /// Multicast trusts the underlay's subnet: an underlay without an address and no
    /// --peer leave nothing to trust, which is a configuration error, not an empty set.
    @Test func testNoKnownVTEPIsAConfigurationError() throws {
        let host = try NetworkNamespace("fw-none")
        try host.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1")
        try host.ip("link", "set", "ul0", "up")
        let folder = try TemporaryFolder()
        let config = try folder.write("vxlan.conf", "mode = \"multicast\"\nunderlay = \"ul0\"\n")
        let result = try host.vxlanctl("firewall", "--config", config)
        #expect(result.status == 2)
        #expect(result.errors.hasPrefix("vxlanctl: no VTEP address is known in multicast mode"), "\(result.errors)")
        #expect(try host.vxlanctl("firewall", "--peer", "192.0.2.0/24", "--config", config).status == 0)
    }
}

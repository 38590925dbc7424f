import Foundation
import NamespaceTestSupport
import Testing

/// `vxlanctl guest-mtu` against libvirt's test driver loaded from a node file: real
/// libvirt API and domain XML, no daemon, no root. Each vxlanctl run has the driver to
/// itself, so `--apply` is seen in what it prints (the real daemon's persistent XML is
/// read back in Tests/E2E/guest-mtu).
struct GuestMTUCommandTests {
    private static let node = """
        <node>
          <domain type='test'>
            <name>web1</name><memory>65536</memory><os><type>hvm</type></os>
            <devices>
              <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='brvx-5001'/></interface>
              <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='virbr0'/></interface>
              <interface type='network'><mac address='52:54:00:00:00:03'/><source network='vxlan-5002'/>\
        <mtu size='1500'/></interface>
              <interface type='bridge'><mac address='52:54:00:00:00:04'/><source bridge='brvx-5003'/>\
        <mtu size='1300'/></interface>
            </devices>
          </domain>
          <domain type='test'>
            <name>db1</name><memory>65536</memory><os><type>hvm</type></os>
            <devices><interface type='bridge'><source bridge='brvx-5001'/><mtu size='1400'/></interface></devices>
          </domain>
        </node>
        """

    private func guestMTU(_ arguments: String...) throws -> CommandResult {
        let folder = try TemporaryFolder()
        let node = try folder.write("node.xml", Self.node)
        let config = try folder.write("vxlan.conf", "underlay = \"eth0\"\nmtu = 1400\nvni_ranges = [\"5001-5002\"]\n")
        return try capture(
            [builtProduct("vxlanctl"), "guest-mtu", "--connect", "test://\(node)", "--config", config] + arguments)
    }

    /// A NIC without <mtu> and one asking for more than the 1400-byte segment are listed,
    /// with the fix; one whose segment cannot be planned is named as not checked; a NIC
    /// on another bridge and a guest whose NICs all fit are not listed.
    @Test func testListsTheNICsThatWouldKeepMoreThanTheirSegment() throws {
        let result = try guestMTU()
        #expect(result.status == 0, "\(result.errors)")
        #expect(
            result.output == """
                web1: brvx-5001 (VNI 5001): NIC 52:54:00:00:00:01 has no <mtu>: the guest keeps 1500 on a 1400-byte \
                segment and loses larger frames; add <mtu size='1400'/> to its <interface>; fix: vxlanctl guest-mtu \
                --apply web1
                web1: network vxlan-5002 (VNI 5002): NIC 52:54:00:00:00:03 asks for <mtu size='1500'/>: sends up to \
                1500 bytes on a 1400-byte segment and loses larger frames; set <mtu size='1400'/> in its <interface>; \
                fix: vxlanctl guest-mtu --apply web1
                web1: NIC 52:54:00:00:00:04: segment MTU unknown (VNI 5003 is not in this host's vni_ranges \
                (5001-5002)); not checked

                """)
    }

    @Test func testApplySaysWhatItSetOnEachNIC() throws {
        let result = try guestMTU("--apply", "web1")
        #expect(result.status == 0, "\(result.errors)")
        #expect(
            result.output.contains(
                "NIC 52:54:00:00:00:01: set <mtu size='1400'/> (had none); takes effect at its next start (running now: shut it down and start it)"
            ))
        #expect(result.output.contains("NIC 52:54:00:00:00:03: set <mtu size='1400'/> (had 1500)"))
    }

    @Test func testJSONHasOneRowPerNIC() throws {
        let result = try guestMTU("--json", "db1", "web1")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["mac"] as? String } == ["52:54:00:00:00:01", "52:54:00:00:00:03"])
        #expect(rows.map { $0["segmentMTU"] as? Int } == [1400, 1400])
        #expect(!result.output.contains("\\/"))
    }

    @Test func testUnknownGuestIsNamedAndChangesNothing() throws {
        let result = try guestMTU("--apply", "web1", "nosuch")
        #expect(result.status == 1)
        #expect(result.errors == "vxlanctl: no defined guest named nosuch\n")
        #expect(result.output.isEmpty)
    }
}

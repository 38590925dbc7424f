import Testing
import VXLANCore

@testable import HostNetwork

/// What the watcher reads from one dump of every link: whether a segment matches its
/// plan, decided without a request per VNI (no root, no kernel).
struct SegmentDriftTests {
    var underlay = Link(index: 2, name: "ul0", kind: "veth", mtu: 1500)
    var bridge = Link(index: 10, name: "brvx-5001", kind: "bridge", mtu: 1450, group: 0x7600_1389)
    var vxlan = Link(
        index: 11, name: "vxlan5001", kind: "vxlan", mtu: 1450, master: 10, group: 0x7600_1389,
        vxlan: VXLANAttributes(
            id: 5001, group: IPAddress("239.0.19.137"), local: nil, underlay: 2, dstport: 8472, ttl: 10,
            learning: true))
    var addresses = ["ul0": [IPAddress("192.0.2.1")].compactMap { $0 }]

    func plan(_ mode: UnderlayMode = .multicast) throws -> SegmentPlan {
        var config = Config()
        config.underlay = try InterfaceName("ul0")
        config.mode = mode
        config.remotes = [IPAddress("192.0.2.2")].compactMap { $0 }
        return try config.plan(for: VNI(5001))
    }

    func drift(_ plan: SegmentPlan, _ links: [Link]? = nil) -> String? {
        let addresses = addresses
        var table = LinkTable(links ?? [underlay, bridge, vxlan]) { link, _ in addresses[link.name] ?? [] }
        return SegmentConverger.drift(of: plan, in: &table)?.description
    }

    @Test func testACompleteSegmentHasNoDrift() throws {
        #expect(drift(try plan()) == nil)
    }

    @Test func testEachBrokenPieceIsNamed() throws {
        #expect(drift(try plan(), [underlay, bridge]) == "vxlan5001 missing")
        #expect(drift(try plan(), [bridge, vxlan]) == "underlay ul0 missing")
        var table = LinkTable([bridge, vxlan]) { _, _ in [] }
        #expect(SegmentConverger.drift(of: try plan(), in: &table) == .underlay("underlay ul0 missing"))
        var detached = vxlan
        detached.master = 0
        #expect(drift(try plan(), [underlay, bridge, detached]) == "vxlan5001 not a port of brvx-5001")
        var down = vxlan
        down.isUp = false
        #expect(drift(try plan(), [underlay, bridge, down]) == "vxlan5001 down")
    }

    @Test func testAnUnderlayReCreatedWithAnotherIndexIsDrift() throws {
        var recreated = underlay
        recreated.index = 7
        #expect(drift(try plan(), [recreated, bridge, vxlan]) == "dev index 2 instead of 7")
    }

    @Test func testAnUnderlayMTUChangeIsDrift() throws {
        var jumbo = underlay
        jumbo.mtu = 9000
        #expect(drift(try plan(), [jumbo, bridge, vxlan]) == "mtu 1450 instead of 8950")
    }

    @Test func testAChangedVTEPAddressIsDriftInUnicastMode() throws {
        var unicast = vxlan
        unicast.vxlan?.group = nil
        unicast.vxlan?.local = IPAddress("192.0.2.1")
        #expect(drift(try plan(.unicast), [underlay, bridge, unicast]) == nil)
        unicast.vxlan?.local = IPAddress("192.0.2.9")
        #expect(drift(try plan(.unicast), [underlay, bridge, unicast]) == "local 192.0.2.9 instead of 192.0.2.1")
    }

    @Test func testABorrowedSegmentThatMatchesHasNoDrift() throws {
        var foreignBridge = bridge
        foreignBridge.group = 0
        foreignBridge.mtu = 1500
        var foreignVXLAN = vxlan
        foreignVXLAN.group = 0
        foreignVXLAN.mtu = 1500
        #expect(drift(try plan(), [underlay, foreignBridge, foreignVXLAN]) == nil)
    }
}

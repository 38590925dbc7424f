import Foundation
import NamespaceTestSupport
import OVSDB
import Testing

/// The OVSDB client against a real ovsdb-server and ovs-vswitchd (userspace datapath) in
/// a namespace of the test's own.
@Suite(
    .enabled(if: isRoot, "needs root to create network namespaces"),
    .enabled(if: PrivateOpenvSwitch.isInstalled, "needs openvswitch-switch"), .serialized)
struct VSwitchTests {
    func connect(_ ovs: PrivateOpenvSwitch, timeout: Int = 5000) throws -> VSwitch {
        try VSwitch.connect(socket: ovs.socket, timeoutMilliseconds: timeout)
    }

    func newSegment(_ vswitch: VSwitch, vni: UInt32 = 5001, mtu: Int = 1450) throws {
        var change = VSwitch.Change(
            bridge: "brvx-\(vni)", vxlan: "vxlan\(vni)", vni: vni, datapathType: "netdev", mtu: mtu)
        change.createBridge = true
        change.addVXLANPort = true
        try vswitch.waitApplied(try vswitch.apply(change))
    }

    @Test func makesAMarkedBridgeWithOurPortWhoseDeviceExistsOnceApplied() throws {
        let host = try NetworkNamespace("ovs")
        let ovs = try PrivateOpenvSwitch(in: host)
        try host.addUnderlay()
        try host.ip("link", "add", "vxlan5001", "type", "vxlan", "id", "5001", "dstport", "8472", "dev", "ul0")
        try host.ip("link", "set", "vxlan5001", "up")
        let vswitch = try connect(ovs)
        try newSegment(vswitch)

        let segment = try vswitch.segment(bridge: "brvx-5001", vxlan: "vxlan5001")
        #expect(segment.bridge?.row.ownerVNI == 5001)
        #expect(segment.bridge?.datapathType == "netdev")
        #expect(segment.vxlanPort?.row.ownerVNI == 5001)
        #expect(segment.vxlanPortOnBridge)
        #expect(segment.otherPorts.isEmpty)
        #expect(segment.bridgeInterface?.mtuRequest == 1450)
        #expect(segment.vxlanInterface?.error == nil)
        // ovs-vswitchd has made the bridge's device: libvirt copies its MTU onto a tap.
        let link = try host.link("brvx-5001")
        #expect(link?["mtu"] as? Int == 1450)
        #expect(try ovs.vsctl("list-ports", "brvx-5001") == "vxlan5001\n")
    }

    @Test func seesGuestPortsAndRemovesOnlyABridgeWhosePortsDidNotChange() throws {
        let host = try NetworkNamespace("ovs")
        let ovs = try PrivateOpenvSwitch(in: host)
        let vswitch = try connect(ovs)
        try newSegment(vswitch)
        try host.ip("link", "add", "vnet0", "type", "veth", "peer", "name", "guest0")
        try ovs.vsctl("add-port", "brvx-5001", "vnet0")
        let segment = try vswitch.segment(bridge: "brvx-5001", vxlan: "vxlan5001")
        #expect(try vswitch.portNames(segment.otherPorts) == ["vnet0"])

        // A teardown decided before the tap came: refused whole.
        var stale = try #require(segment.bridge)
        stale.ports.subtract(segment.otherPorts)
        #expect(throws: OVSDBError.self) { try vswitch.removeBridges([stale]) }
        #expect(try ovs.vsctl("br-exists", "brvx-5001") == "")

        try ovs.vsctl("del-port", "vnet0")
        let idle = try #require(try vswitch.segment(bridge: "brvx-5001", vxlan: "vxlan5001").bridge)
        try vswitch.waitApplied(try vswitch.removeBridges([idle]))
        #expect(try vswitch.segment(bridge: "brvx-5001", vxlan: "vxlan5001") == VSwitch.Segment())
        #expect(try host.link("brvx-5001") == nil)
    }

    @Test func aForeignBridgeOfOurNameCarriesNoMark() throws {
        let host = try NetworkNamespace("ovs")
        let ovs = try PrivateOpenvSwitch(in: host)
        try ovs.vsctl("add-br", "brvx-5001", "--", "set", "Bridge", "brvx-5001", "datapath_type=netdev")
        let vswitch = try connect(ovs)
        let segment = try vswitch.segment(bridge: "brvx-5001", vxlan: "vxlan5001")
        #expect(segment.bridge != nil)
        #expect(segment.bridge?.row.ownerVNI == nil)
        #expect(try vswitch.ownedBridges().isEmpty)
        // Our insert of the same name is refused by the schema's index, not doubled.
        var change = VSwitch.Change(
            bridge: "brvx-5001", vxlan: "vxlan5001", vni: 5001, datapathType: "netdev", mtu: nil)
        change.createBridge = true
        #expect {
            _ = try vswitch.apply(change)
        } throws: { ($0 as? OVSDBError)?.isConflict == true }
    }

    @Test func aStoppedDatabaseIsOneLineNamingOVSDBServer() throws {
        let host = try NetworkNamespace("ovs")
        let ovs = try PrivateOpenvSwitch(in: host, startSwitch: false)
        ovs.stopDatabase()
        #expect {
            _ = try connect(ovs)
        } throws: { "\($0)".hasPrefix("ovsdb-server is not running: cannot connect to unix:\(ovs.socket)") }
    }

    @Test func aFrozenDatabaseCostsTheTimeoutNotMore() throws {
        let host = try NetworkNamespace("ovs")
        let ovs = try PrivateOpenvSwitch(in: host, startSwitch: false)
        ovs.freezeDatabase(true)
        defer { ovs.freezeDatabase(false) }
        let start = Date()
        #expect {
            let vswitch = try connect(ovs, timeout: 300)
            _ = try vswitch.segment(bridge: "brvx-5001", vxlan: "vxlan5001")
        } throws: { "\($0)" == "ovsdb-server at unix:\(ovs.socket) did not answer within 300 ms" }
        #expect(Date().timeIntervalSince(start) < 1)
    }

    @Test func aStoppedSwitchIsOneLineNamingOVSVswitchd() throws {
        let host = try NetworkNamespace("ovs")
        let ovs = try PrivateOpenvSwitch(in: host, startSwitch: false)
        let vswitch = try connect(ovs, timeout: 500)
        #expect {
            try newSegment(vswitch)
        } throws: { "\($0)".hasPrefix("ovs-vswitchd did not apply the change within 500 ms") }
    }
}

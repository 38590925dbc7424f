import Foundation
import HostNetwork
import NamespaceTestSupport
import OVSDB
import Testing
import VXLANCore

/// A host on Open vSwitch: a namespace with an underlay, a private ovsdb-server and
/// ovs-vswitchd (userspace datapath: this kernel has no openvswitch module), and the
/// converger for its OVS segments.
struct OVSHost {
    let namespace: NetworkNamespace
    let ovs: PrivateOpenvSwitch
    let session: NetlinkSession
    let converger: OpenvSwitchConverger
    var config: Config

    init(_ label: String, namespace: NetworkNamespace? = nil, address: String = "192.0.2.1/24") throws {
        self.namespace = try namespace ?? NetworkNamespace(label)
        if namespace == nil { try self.namespace.addUnderlay(address: address) }
        ovs = try PrivateOpenvSwitch(in: self.namespace)
        session = try self.namespace.session()
        converger = OpenvSwitchConverger(kernel: session, socket: ovs.socket, timeoutMilliseconds: 1000)
        config = Config()
        config.underlay = try InterfaceName("ul0")
        config.openvswitch.datapathType = .netdev
    }

    func plan(_ vni: UInt32) throws -> SegmentPlan { try config.plan(for: VNI(vni), bridgeKind: .openvswitch) }

    @discardableResult
    func ensure(_ vni: UInt32 = 6001) throws -> EnsureResult { try converger.ensure(plan(vni)) }

    /// As the reaper does: the status decides (`teardownPlan`), the bridge leaves the
    /// database, the vxlan device is staged and deleted. Returns what went, or why nothing.
    @discardableResult
    func teardown(_ vni: UInt32 = 6001) throws -> Teardown {
        switch try converger.status(of: config.names(for: VNI(vni))).teardownPlan() {
        case .leave(let result):
            return .left(result)
        case .remove(let removal):
            if let bridge = removal.openvswitch { try converger.remove([bridge]) }
            let linux = SegmentConverger(kernel: session)
            try linux.stage(removal)
            _ = try linux.deleteStaged(removal.devices)
            return .removed(removal.deleted.map(\.description))
        }
    }

    enum Teardown: Equatable {
        case removed([String])
        case left(TeardownResult)
    }

    func ports(_ bridge: String = "brvx-6001") throws -> [String] {
        try ovs.vsctl("list-ports", bridge).split(separator: "\n").map(String.init)
    }

    /// libvirt at the guest's start (`PrivateOpenvSwitch.plugGuest`).
    func plugGuest(_ guest: NetworkNamespace, tap: String, address: String, bridge: String = "brvx-6001") throws {
        try ovs.plugGuest(guest, tap: tap, address: address, bridge: bridge)
    }
}

@Suite(
    .enabled(if: isRoot, "needs root to create network namespaces"),
    .enabled(if: PrivateOpenvSwitch.isInstalled, "needs openvswitch-switch"))
struct OpenvSwitchConvergerTests {
    @Test func makesAnOVSBridgeWithOurKernelVXLANDeviceAsItsPortOnceAndRemovesIt() throws {
        let host = try OVSHost("ovs")
        let made = try host.ensure()
        #expect(made.changes.map(\.description).contains("created Open vSwitch bridge brvx-6001 (datapath netdev)"))
        #expect(made.bridgeKind == .openvswitch)
        #expect(made.mtu == 1450)
        #expect(try host.ports() == ["vxlan6001"])
        let vxlan = try #require(try host.namespace.link("vxlan6001"))
        #expect(vxlan.group == "1979717489")
        #expect(vxlan.vxlanData["group"] as? String == "239.0.23.113")
        #expect(vxlan.vxlanData["port"] as? Int == 8472)
        #expect(vxlan.mtu == 1450)
        let bridge = try #require(try host.namespace.link("brvx-6001"))
        #expect(bridge.mtu == 1450)
        #expect((bridge["addr_info"] as? [Any] ?? []).isEmpty)
        #expect(try host.ovs.vsctl("br-get-external-id", "brvx-6001", "libvirt-vxlan-vni") == "6001\n")

        // Converged: the next ensure (an existing VNI) reads and changes nothing.
        #expect(try host.ensure().changes.isEmpty)

        #expect(try host.teardown() == .removed(["deleted Open vSwitch bridge brvx-6001", "deleted vxlan6001"]))
        #expect(throws: CommandFailed.self) { try host.ovs.vsctl("br-exists", "brvx-6001") }
        #expect(try host.namespace.link("vxlan6001") == nil)
        #expect(try host.teardown() == .left(.absent))
    }

    @Test func repairsAPortRemovedByHandAndABridgeDeletedByHand() throws {
        let host = try OVSHost("ovs")
        try host.ensure()
        try host.ovs.vsctl("del-port", "brvx-6001", "vxlan6001")
        #expect(try host.ensure().changes.map(\.description) == ["added port vxlan6001 to brvx-6001"])
        #expect(try host.ports() == ["vxlan6001"])
        try host.ovs.vsctl("del-br", "brvx-6001")
        #expect(
            try host.ensure().changes.map(\.description).first
                == "created Open vSwitch bridge brvx-6001 (datapath netdev)")
        #expect(try host.ports() == ["vxlan6001"])
    }

    /// libvirt copies the bridge device's MTU onto a guest's tap: an ensure on an existing
    /// VNI whose bridge has no device (ovs-vswitchd down) waits for ovs-vswitchd like a
    /// new bridge, and fails in one line when it does not come.
    @Test func anExistingBridgeWithoutItsDeviceWaitsForOVSVswitchd() throws {
        let host = try OVSHost("ovs")
        try host.ensure()
        host.ovs.stopSwitch()
        if try host.namespace.link("brvx-6001") != nil { try host.namespace.ip("link", "del", "brvx-6001") }
        #expect {
            try host.ensure()
        } throws: { "\($0)".hasPrefix("ovs-vswitchd did not apply the change within 1 s") }
        try host.ovs.startSwitch()
        try host.ensure()
        #expect(try host.namespace.link("brvx-6001")?.mtu == 1450)
    }

    @Test func leavesASegmentWithAGuestPortAndAForeignBridgeOfOurName() throws {
        let host = try OVSHost("ovs")
        try host.ensure()
        let guest = try NetworkNamespace("guest")
        try host.plugGuest(guest, tap: "vnet0", address: "198.51.100.1/24")
        #expect(try host.teardown() == .left(.inUse(ports: ["vnet0"])))
        #expect(try host.ports() == ["vnet0", "vxlan6001"])

        try host.ovs.vsctl("add-br", "brvx-6002", "--", "set", "Bridge", "brvx-6002", "datapath_type=netdev")
        #expect(throws: ConvergeError.foreignBridge("brvx-6002")) { try host.ensure(6002) }
        #expect(try host.namespace.link("vxlan6002") == nil)
        #expect(try host.teardown(6002) == .left(.notOwned("brvx-6002")))
        #expect(try host.ovs.vsctl("br-exists", "brvx-6002") == "")
    }

    @Test func aLinuxBridgeOfTheNameIsAMismatchAndNothingIsMade() throws {
        let host = try OVSHost("ovs")
        try host.namespace.ip("link", "add", "brvx-6001", "type", "bridge")
        #expect(throws: ConvergeError.bridgeKindMismatch(name: "brvx-6001", found: .linux, wanted: .openvswitch)) {
            try host.ensure()
        }
        #expect(try host.namespace.link("vxlan6001") == nil)
        #expect(throws: CommandFailed.self) { try host.ovs.vsctl("br-exists", "brvx-6001") }
    }

    @Test func aStoppedDatabaseFailsInOneLineAndMakesNothing() throws {
        let host = try OVSHost("ovs")
        host.ovs.stopDatabase()
        #expect {
            try host.ensure()
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("ovsdb-server is not running: cannot connect to unix:\(host.ovs.socket)")
                && !text.contains("\n")
        }
        #expect(try host.namespace.link("vxlan6001") == nil)
    }

    @Test func aStoppedSwitchFailsInOneLineAndLeavesNothing() throws {
        let host = try OVSHost("ovs")
        host.ovs.stopSwitch()
        #expect {
            try host.ensure()
        } throws: { "\($0)".hasPrefix("ovs-vswitchd did not apply the change within 1 s") }
        #expect(try host.namespace.link("vxlan6001") == nil)
        #expect(throws: CommandFailed.self) { try host.ovs.vsctl("br-exists", "brvx-6001") }
    }
}

/// An Open vSwitch host and a Linux-bridge host on one VNI: guests on each ping across,
/// so the OVS segment's vxlan device is the very one a Linux-bridge (or CloudStack) host
/// talks to.
@Suite(
    .enabled(if: isRoot, "needs root to create network namespaces"),
    .enabled(if: PrivateOpenvSwitch.isInstalled, "needs openvswitch-switch"))
struct OpenvSwitchOverlayTests {
    @Test(arguments: [UnderlayMode.multicast, .unicast])
    func guestsOnAnOVSHostAndALinuxBridgeHostPingAcross(mode: UnderlayMode) throws {
        let hostA = try NetworkNamespace("ovsA")
        let hostB = try NetworkNamespace("brB")
        try NetworkNamespace.joinUnderlay(hostA, hostB)
        var ovsHost = try OVSHost("ovsA", namespace: hostA)
        ovsHost.config.mode = mode
        if mode == .unicast { ovsHost.config.remotes = [try #require(IPAddress("192.0.2.2"))] }
        try ovsHost.ensure()

        var linux = Config()
        linux.underlay = try InterfaceName("ul0")
        linux.mode = mode
        if mode == .unicast { linux.remotes = [try #require(IPAddress("192.0.2.1"))] }
        _ = try SegmentConverger(kernel: try hostB.session()).ensure(try linux.plan(for: VNI(6001)))

        let guestA = try NetworkNamespace("guestA")
        let guestB = try NetworkNamespace("guestB")
        try ovsHost.plugGuest(guestA, tap: "vnet0", address: "198.51.100.1/24")
        try guestB.plugGuest(into: hostB, tap: "vnet0", bridge: "brvx-6001", address: "198.51.100.2/24")
        #expect(try guestA.pings("198.51.100.2"), "no ping from the OVS host's guest across the \(mode) overlay")
        #expect(try guestB.pings("198.51.100.1"))

        // The last guest gone: the OVS segment goes whole.
        try ovsHost.ovs.vsctl("del-port", "vnet0")
        #expect(try ovsHost.teardown() == .removed(["deleted Open vSwitch bridge brvx-6001", "deleted vxlan6001"]))
        #expect(try hostA.link("vxlan6001") == nil && hostA.link("brvx-6001") == nil)
    }
}

import Glibc
import HostNetwork
import KernelFakes
import OVSDB
import Testing
import VXLANCore

/// The Open vSwitch converger's decisions against an in-memory kernel and database,
/// without root: what it makes and in which order, what it refuses, what it undoes when
/// ovs-vswitchd does not come. `OpenvSwitchConvergerTests` holds the same behaviours
/// against a real ovsdb-server and ovs-vswitchd in a namespace.
final class OpenvSwitchBranchTests {
    let kernel = FakeKernel()
    let database: FakeOpenvSwitch
    var config = Config()

    init() throws {
        database = FakeOpenvSwitch(kernel: kernel)
        kernel.add(Link(index: 0, name: "ul0", kind: "veth"))
        config.underlay = try InterfaceName("ul0")
    }

    /// The socket "exists" (/): Open vSwitch runs here.
    var converger: OpenvSwitchConverger {
        let database = database
        return OpenvSwitchConverger(kernel: kernel, socket: "/") { () throws(OVSDBError) in database }
    }

    func plan(_ kind: BridgeKind? = .openvswitch) throws -> SegmentPlan {
        try config.plan(for: VNI(6001), bridgeKind: kind)
    }

    func failure(_ body: () throws -> Void) -> ConvergeError? {
        do { try body() } catch let error as ConvergeError { return error } catch { return nil }
        return nil
    }

    @Test func aNewSegmentIsOneTransactionAfterTheVXLANDeviceAndTheBridgeDeviceIsHiddenAndUp() throws {
        let result = try converger.ensure(plan())
        #expect(
            result.changes.map(\.description) == [
                "created vxlan6001 (id 6001 group 239.0.23.113 dstport 8472 ttl 10 mtu 1450) in brvx-6001",
                "created Open vSwitch bridge brvx-6001 (datapath system)", "added port vxlan6001 to brvx-6001",
                "set addrgenmode none on brvx-6001",
            ])
        #expect(database.transactions == ["apply"])
        let vxlan = try #require(kernel.named("vxlan6001"))
        let vni = try VNI(6001)
        #expect(vxlan.master == 0 && vxlan.isOwned(for: vni) && vxlan.isUp)
        #expect(kernel.named("brvx-6001")?.isUp == true)
        #expect(result.bridgeKind == .openvswitch)
        // Converged: a read, no write.
        #expect(try converger.ensure(plan()).changes.isEmpty)
        #expect(database.transactions == ["apply"])
    }

    @Test func aVXLANDeviceMadeAgainUnderItsPortIsReopenedByOVSVswitchd() throws {
        _ = try converger.ensure(plan())
        try kernel.deleteLink(try #require(kernel.named("vxlan6001")))
        let repaired = try converger.ensure(plan())
        #expect(repaired.changes.map(\.description).first?.hasPrefix("created vxlan6001 (id 6001") == true)
        // An empty change (next_cfg += 1) waited for: ovs-vswitchd reconfigures and opens it.
        #expect(database.transactions == ["apply", "apply"])
    }

    @Test func aSwitchThatDoesNotApplyLeavesNothingMade() throws {
        database.switchRuns = false
        #expect(
            failure { _ = try converger.ensure(plan()) }?.description.hasPrefix("ovs-vswitchd did not apply") == true)
        #expect(database.bridges.isEmpty)
        #expect(database.transactions == ["apply", "remove"])
        #expect(kernel.names == ["ul0"])
    }

    @Test func aPortOfOurNameWithoutOurMarkIsForeignAndOurNewDeviceGoesAgain() throws {
        database.addBridge("br-other", mark: nil, ports: ["vxlan6001"])
        let error = failure { _ = try converger.ensure(plan()) }
        #expect(error == .foreignDevice(name: "vxlan6001", differences: ["an Open vSwitch port without our mark"]))
        #expect(kernel.names == ["ul0"])
        #expect(database.transactions.isEmpty)
    }

    @Test func ourPortOnAnotherBridgeIsRefused() throws {
        database.addBridge("br-other", mark: 6001, ports: ["vxlan6001"])
        #expect(
            failure { _ = try converger.ensure(plan()) } == .portOfOtherBridge(name: "vxlan6001", master: "br-other"))
    }

    @Test func aForeignBridgeOfTheNameIsNeverChanged() throws {
        database.addBridge("brvx-6001", mark: nil)
        #expect(failure { _ = try converger.ensure(plan()) } == .foreignBridge("brvx-6001"))
        #expect(database.transactions.isEmpty)
        #expect(kernel.names == ["ul0"])
    }

    @Test func theKindIsResolvedAgainstWhatExists() throws {
        kernel.add(Link(index: 0, name: "brvx-6001", kind: "openvswitch"))
        #expect(try converger.resolve(plan(nil)).bridgeKind == .openvswitch)
        #expect(
            failure { _ = try converger.resolve(plan(.linux)) }
                == .bridgeKindMismatch(name: "brvx-6001", found: .openvswitch, wanted: .linux))
        let linux = FakeKernel()
        linux.add(Link(index: 0, name: "brvx-6001", kind: "bridge"))
        let onLinux = OpenvSwitchConverger(kernel: linux, socket: "/") { () throws(OVSDBError) in self.database }
        #expect(try onLinux.resolve(plan(nil)).bridgeKind == .linux)
        #expect(
            failure { _ = try onLinux.resolve(plan(.openvswitch)) }
                == .bridgeKindMismatch(name: "brvx-6001", found: .linux, wanted: .openvswitch))
    }

    @Test func theTeardownDecisionReadsTheMarkAndThePortsOfTheDatabase() throws {
        _ = try converger.ensure(plan())
        let names = try config.names(for: VNI(6001))
        guard case .remove(let removal) = try converger.status(of: names).teardownPlan() else {
            Issue.record("an idle OVS segment of ours is not removed")
            return
        }
        #expect(removal.deleted.map(\.description) == ["deleted Open vSwitch bridge brvx-6001", "deleted vxlan6001"])

        // A tap libvirt added meanwhile: the removal decided before it is refused whole.
        let bridge = try #require(database.bridges["brvx-6001"])
        _ = try database.apply(
            {
                var change = VSwitch.Change(
                    bridge: "brvx-6001", vxlan: "vnet0", vni: 0, datapathType: "system", mtu: nil)
                change.bridgeUUID = bridge.row.uuid
                change.addVXLANPort = true
                return change
            }())
        #expect(failure { try converger.remove([try #require(removal.openvswitch)]) } != nil)
        #expect(database.bridges["brvx-6001"] != nil)
        #expect(try converger.status(of: names).teardownPlan() == .leave(.inUse(ports: ["vnet0"])))
    }

    @Test func anUnmarkedBridgeIsNotOursToRemove() throws {
        database.addBridge("brvx-6001", mark: nil)
        let names = try config.names(for: VNI(6001))
        #expect(try converger.status(of: names).teardownPlan() == .leave(.notOwned("brvx-6001")))
    }
}

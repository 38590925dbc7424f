import Lifecycle
import LifecycleFakes
import Testing
import VXLANCore

/// The watcher's rule against in-memory links, records, plans and locks: a repair
/// happens under the VNI's lock, only while the VNI has users, only to the recorded plan.
struct SegmentRepairTests {
    let host = FakeHost()
    let plans = FakePlans()
    let guest = SegmentUser(.domain, uuid: "00000000-0000-4000-8000-000000000001")
    let network = SegmentUser(.network, uuid: "4a70a2fb-8ccb-4ca4-8b9b-b0dc1656def9")

    /// The hook's lifecycle, recording plans as the hook does.
    private var recordingLifecycle: SegmentLifecycle {
        SegmentLifecycle(
            links: PlanRecordingLinks(links: host.links, plans: plans, journal: host.log), users: host.users,
            locks: host.locks, teardowns: host.teardowns, journal: host.log, now: { 0 })
    }

    private func repair(configured: SegmentPlan? = nil) -> SegmentRepair {
        SegmentRepair(
            links: host.links, users: host.users, locks: host.locks, plans: plans, configured: { _ in configured })
    }

    private func join(_ user: SegmentUser?, _ plan: SegmentPlan) throws {
        let use = SegmentLifecycle.Use(plan: plan, record: UserRecord(name: "g1", macs: []))
        try recordingLifecycle.join(try #require(user), [use], context: "test")
    }

    /// A plan of a kind already decided: the record holds the kind ensure made, never
    /// "whatever exists" (`adoptsExistingKind`).
    private func plan(_ vni: UInt32, bridge: String? = nil) throws -> SegmentPlan {
        try host.config.plan(for: VNI(vni), bridge: bridge.map { try InterfaceName($0) }, bridgeKind: .linux)
    }

    @Test func testJoinRecordsThePlanItConvergedTo() throws {
        let custom = try plan(5001, bridge: "br-tenant")
        try join(network, custom)
        #expect(plans.plans[try VNI(5001)] == custom)
    }

    @Test func testAJoinThatChangesNothingKeepsTheRecordedPlan() throws {
        let made = try plan(5001)
        try join(guest, made)
        var same = made
        same.requiredMTU = 1400
        try join(network, same)
        #expect(plans.plans[try VNI(5001)] == made)
        plans.plans = [:]
        try join(network, same)
        #expect(plans.plans[try VNI(5001)] == same, "nothing recorded: a join records its plan")
    }

    @Test func testAPlanThatCannotBeRecordedStillLetsTheGuestStart() throws {
        plans.failure = StateError(operation: "write", path: "/run/libvirt-vxlan/plans/5001", reason: "No space left")
        try join(guest, try plan(5001))
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(host.log.contains(.warning, "VNI 5001: vxlanctl watch will not repair this segment"))
    }

    @Test func testRepairBringsBackTheDeletedVXLANDeviceToTheRecordedPlan() throws {
        let custom = try plan(5001, bridge: "br-tenant")
        try join(network, custom)
        host.links.delete("vxlan5001")
        let outcome = repair().repair(try VNI(5001))
        #expect(outcome == .converged([FakeLinks.createdVXLAN(custom)]))
        #expect(host.links.names == ["br-tenant", "vxlan5001"])
        #expect(try host.locks.held.isEmpty && host.locks.taken.last == VNI(5001))
    }

    @Test func testASegmentWhoseLastUserLeftIsNeverBroughtBack() throws {
        try join(guest, try plan(5001))
        try recordingLifecycle.leave(guest, from: host.config.names(for: VNI(5001)), context: "test")
        host.lifecycle.reap()  // the teardown the leave marked, done later by the reaper
        #expect(host.links.names.isEmpty)
        #expect(repair().repair(try VNI(5001)) == .unused)
        #expect(host.links.names.isEmpty)
    }

    @Test func testUsersAreReadUnderTheLock() throws {
        try join(guest, try plan(5001))
        let before = host.locks.taken.count
        _ = repair().repair(try VNI(5001))
        #expect(host.locks.taken.count == before + 1)
        #expect(host.locks.held.isEmpty)
    }

    @Test func testWithoutARecordedPlanOnlyGuestsGetTheConfigurationsPlan() throws {
        let configured = try plan(5001)
        host.users.records[try VNI(5001)] = [try #require(guest): UserRecord(name: "g1", macs: [])]
        #expect(repair(configured: configured).repair(try VNI(5001)) != .unplanned)
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])

        // A libvirt network's plan comes from its XML: without a record, hands off.
        host.users.records[try VNI(5002)] = [try #require(network): UserRecord(name: "tenant", macs: [])]
        #expect(repair(configured: try plan(5002)).repair(try VNI(5002)) == .unplanned)
        #expect(!host.links.names.contains("brvx-5002"))
    }

    @Test func testAStaleOwnedVXLANDeviceIsReplaced() throws {
        let made = try plan(5001)
        try join(guest, made)
        host.links.staleVXLANs = [try VNI(5001)]
        let outcome = repair().repair(try VNI(5001))
        #expect(
            outcome
                == .converged([
                    .deletedVXLAN("vxlan5001", stale: ["local 192.0.2.9 instead of 192.0.2.1"]),
                    FakeLinks.createdVXLAN(made),
                ]))
    }

    @Test func testADeviceThatDiffersOtherwiseIsLeftAsItIs() throws {
        try join(guest, try plan(5001))
        host.links.failingEnsure[try VNI(5001)] = .ownedDeviceDiffers(
            name: "vxlan5001", vni: try VNI(5001), differences: ["dstport 4789 instead of 8472"])
        guard case .failed(let reason) = repair().repair(try VNI(5001)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason.contains("dstport 4789 instead of 8472"))
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
    }

    @Test func testAFailedEnsureIsReportedAndChangesNothing() throws {
        try join(guest, try plan(5001))
        host.links.delete("vxlan5001")
        host.links.failingEnsure[try VNI(5001)] = .underlayMissing(try InterfaceName("ul0"))
        guard case .failed(let reason) = repair().repair(try VNI(5001)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason.contains("ul0"))
        #expect(host.links.names == ["brvx-5001"])
    }
}

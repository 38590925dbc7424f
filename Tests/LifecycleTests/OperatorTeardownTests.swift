import Lifecycle
import LifecycleFakes
import Testing
import VXLANCore

/// `vxlanctl ensure` and `teardown` through the lifecycle: the operator is a recorded
/// user, and a teardown never walks around the records of guests and networks.
struct OperatorTeardownTests {
    let host: FakeHost = {
        let host = FakeHost()
        // vxlanctl reaps before it returns.
        host.teardowns.inlineReaper = { [unowned host] in host.lifecycle.reap() }
        return host
    }()

    private static func user(_ kind: SegmentUser.Kind, _ number: Int) -> SegmentUser {
        let uuid = "00000000-0000-4000-8000-" + String(repeating: "0", count: 11) + String(number)
        guard let user = SegmentUser(kind, uuid: uuid) else { fatalError("bad test UUID \(uuid)") }
        return user
    }

    private func use(_ vni: UInt32, name: String) throws -> SegmentLifecycle.Use {
        SegmentLifecycle.Use(plan: try host.config.plan(for: VNI(vni)), record: UserRecord(name: name, macs: []))
    }

    private func names(_ vni: UInt32) throws -> SegmentNames { try host.config.names(for: VNI(vni)) }

    private func tearDown(_ vni: UInt32, force: Bool = false) throws -> LeaveOutcome {
        try host.lifecycle.tearDown(names(vni), force: force, context: "vxlanctl teardown")
    }

    @Test func testTeardownOfASegmentAnActiveNetworkUsesIsRefusedWithTheNetworksName() throws {
        try host.lifecycle.join(Self.user(.network, 1), [use(5001, name: "vx5001")], context: "network hook")
        let outcome = try tearDown(5001)
        #expect(outcome.decision == .kept(.usedBy([Holder(kind: .network, name: "vx5001")])))
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(host.users.records[try VNI(5001)]?.count == 1)
        #expect(host.teardowns.pending.isEmpty)
    }

    @Test func testForcedTeardownForgetsTheUsersAndRemovesTheSegment() throws {
        try host.lifecycle.join(Self.user(.network, 1), [use(5001, name: "vx5001")], context: "network hook")
        try host.lifecycle.join(Self.user(.domain, 2), [use(5001, name: "web1")], context: "prepare")
        let outcome = try tearDown(5001, force: true)
        #expect(outcome.dropped == [Holder(kind: .network, name: "vx5001"), Holder(kind: .domain, name: "web1")])
        guard case .removed(let removal) = outcome.decision else {
            Issue.record("not removed: \(outcome.decision)")
            return
        }
        #expect(removal.devices.map(\.name) == ["vxlan5001", "brvx-5001"])
        #expect(host.links.names.isEmpty)
        #expect(host.users.records[try VNI(5001)]?.isEmpty ?? true)
        #expect(host.log.contains(.warning, "vxlanctl teardown VNI 5001: --force: forgot network vx5001"))
    }

    @Test func testAnEnsuredSegmentOutlivesItsLastGuestUntilTheOperatorTearsItDown() throws {
        try host.lifecycle.join(.operator, [use(5001, name: "vxlanctl ensure")], context: "vxlanctl ensure")
        let guest = Self.user(.domain, 2)
        try host.lifecycle.join(guest, [use(5001, name: "web1")], context: "prepare")
        let left = try host.lifecycle.leave(guest, from: names(5001), context: "release")
        #expect(left.decision == .kept(.usedBy([Holder(kind: .operator, name: "vxlanctl ensure")])))
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])

        let outcome = try tearDown(5001)
        guard case .removed = outcome.decision else {
            Issue.record("not removed: \(outcome.decision)")
            return
        }
        #expect(host.links.names.isEmpty)
    }

    @Test func testTheOperatorsRecordIsNeverForgottenAsAVanishedGuest() throws {
        try host.lifecycle.join(.operator, [use(5001, name: "vxlanctl ensure")], context: "vxlanctl ensure")
        host.now += 3600
        let outcomes = try host.lifecycle.collectGarbage([names(5001)])
        #expect(outcomes.map(\.decision) == [.kept(.usedBy([Holder(kind: .operator, name: "vxlanctl ensure")]))])
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
    }

    @Test func testTeardownCarriesOutAPendingTeardownAtOnce() throws {
        let guest = Self.user(.domain, 2)
        try host.lifecycle.join(guest, [use(5001, name: "web1")], context: "prepare")
        // The hook's leave marks the teardown; its reaper has not run yet.
        host.teardowns.inlineReaper = nil
        _ = try host.lifecycle.leave(guest, from: names(5001), context: "release")
        #expect(host.teardowns.isMarked(try VNI(5001)) && host.links.names.count == 2)
        host.teardowns.inlineReaper = { [unowned host] in host.lifecycle.reap() }

        let outcome = try tearDown(5001)
        guard case .removed = outcome.decision else {
            Issue.record("not removed: \(outcome.decision)")
            return
        }
        #expect(host.links.names.isEmpty && host.teardowns.pending.isEmpty)
    }

    @Test func testTeardownOfAnAbsentSegmentSaysSo() throws {
        #expect(try tearDown(5001).decision == .absent)
    }

    @Test func testAJoinReportsWhatItMadeAndATakenBackTeardown() throws {
        let guest = Self.user(.domain, 2)
        let first = try host.lifecycle.join(guest, [use(5001, name: "web1")], context: "prepare")
        #expect(first.map(\.vni) == [try VNI(5001)] && !first[0].changes.isEmpty && !first[0].tookBackTeardown)
        host.teardowns.inlineReaper = nil
        _ = try host.lifecycle.leave(guest, from: names(5001), context: "release")
        let again = try host.lifecycle.join(guest, [use(5001, name: "web1")], context: "prepare")
        #expect(again.first?.tookBackTeardown == true && again.first?.changes == [])
    }
}

import Lifecycle
import LifecycleFakes
import Testing
import VXLANCore

/// Every rule of `SegmentLifecycle` against in-memory links, records and locks: no root,
/// no kernel, no files.
struct SegmentLifecycleTests {
    let host = FakeHost()
    let guestA = guest(1)
    let guestB = guest(2)

    private static func guest(_ number: Int) -> SegmentUser {
        let digits = String(number)
        let uuid = "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
        guard let user = SegmentUser(.domain, uuid: uuid) else { fatalError("bad test UUID \(uuid)") }
        return user
    }

    private func use(_ vni: UInt32, name: String = "g", macs: [String] = []) throws -> SegmentLifecycle.Use {
        SegmentLifecycle.Use(plan: try host.config.plan(for: VNI(vni)), record: UserRecord(name: name, macs: macs))
    }

    private func names(_ vni: UInt32) throws -> SegmentNames { try host.config.names(for: VNI(vni)) }

    private func join(_ user: SegmentUser, _ uses: [SegmentLifecycle.Use]) throws {
        try host.lifecycle.join(user, uses, context: "test")
    }

    /// The hook's leave, then the reaper it woke (which runs later, in another process).
    private func leave(_ user: SegmentUser?, mac: String? = nil, _ vni: UInt32) throws {
        let wakes = host.teardowns.wakes
        try host.lifecycle.leave(user, mac: mac, from: names(vni), context: "test")
        if host.teardowns.wakes > wakes { host.lifecycle.reap() }
    }

    /// No teardown staged, marked or deleted.
    private var nothingTornDown: Bool {
        host.links.stagings.isEmpty && host.links.deletions == 0 && host.teardowns.pending.isEmpty
    }

    private func recorded(_ vni: UInt32) throws -> [SegmentUser: UserRecord] { host.users.records[try VNI(vni)] ?? [:] }

    // MARK: joining

    @Test func testJoinMakesTheSegmentAndRecordsTheUser() throws {
        try join(guestA, [use(5001, name: "a", macs: ["52:54:00:00:00:01"])])
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(try recorded(5001)[guestA]?.macs == ["52:54:00:00:00:01"])
        #expect(host.log.contains(.notice, "test VNI 5001: created bridge brvx-5001"))
        #expect(try host.locks.held.isEmpty && host.locks.taken == [VNI(5001)])
    }

    @Test func testJoinAgainMergesTheMACsOfTheEarlierRecord() throws {
        try join(guestA, [use(5001, macs: ["52:54:00:00:00:02"])])
        try join(guestA, [use(5001, macs: ["52:54:00:00:00:01"])])
        #expect(try recorded(5001)[guestA]?.macs == ["52:54:00:00:00:01", "52:54:00:00:00:02"])
    }

    @Test func testJoinThatFailsOnALaterVNILeavesTheEarlierOnesAgain() throws {
        host.links.failingEnsure[try VNI(5002)] = .underlayDown("ul0")
        #expect(throws: LifecycleError.refused("VNI 5002: \(ConvergeError.underlayDown("ul0"))")) {
            try join(guestA, [use(5001), use(5002)])
        }
        #expect(host.teardowns.pending.keys.sorted() == [try VNI(5001)] && host.teardowns.wakes == 1)
        host.lifecycle.reap()
        #expect(host.links.names.isEmpty)
        #expect(host.users.records.isEmpty)
        #expect(host.log.contains(.error, "test VNI 5002: underlay device ul0 is down"))
        #expect(host.locks.held.isEmpty)
    }

    @Test func testRollbackKeepsASegmentAnotherUserStillHolds() throws {
        try join(guestB, [use(5001)])
        host.links.failingEnsure[try VNI(5002)] = .underlayDown("ul0")
        #expect(throws: LifecycleError.self) { try join(guestA, [use(5001), use(5002)]) }
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(try recorded(5001).keys.sorted { $0.uuid < $1.uuid } == [guestB])
    }

    @Test func testUnwritableStateFailsTheJoinAsRuntimeState() throws {
        let failure = StateError(operation: "write", path: "/run/libvirt-vxlan/vni/5001/x", reason: "No space left")
        host.users.failure = failure
        #expect(throws: LifecycleError.state(failure)) { try join(guestA, [use(5001)]) }
        #expect(host.locks.held.isEmpty)
    }

    @Test func testEnsureUnrecordedMakesTheSegmentUnderTheLockAndRecordsNobody() throws {
        let made = try host.lifecycle.ensureUnrecorded(host.config.plan(for: VNI(5001)), context: "modifyvxlan")
        #expect(made.mtu > 0 && !made.borrowed && made.changes.count == 2)
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(host.users.records.isEmpty)
        #expect(host.log.contains(.notice, "modifyvxlan VNI 5001: created bridge brvx-5001"))
        #expect(try host.locks.held.isEmpty && host.locks.taken == [VNI(5001)])
    }

    @Test func testEnsureUnrecordedThatFailsSaysWhyAndReleasesTheLock() throws {
        host.links.failingEnsure[try VNI(5001)] = .underlayDown("ul0")
        #expect(throws: LifecycleError.refused("VNI 5001: \(ConvergeError.underlayDown("ul0"))")) {
            try host.lifecycle.ensureUnrecorded(host.config.plan(for: VNI(5001)), context: "modifyvxlan")
        }
        #expect(host.log.contains(.error, "modifyvxlan VNI 5001: underlay device ul0 is down"))
        #expect(host.locks.held.isEmpty)
    }

    /// The agent's `delete` after the hook recorded a guest: the segment stays.
    @Test func testGarbageCollectionKeepsASegmentWhileTheHookRecordsAUser() throws {
        try join(guestA, [use(5001, name: "a")])
        try host.lifecycle.collectGarbage([names(5001)])
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(host.log.contains(.info, "gc VNI 5001: kept, used by a"))
    }

    // MARK: leaving

    @Test func testLastUserLeavingTearsTheSegmentDown() throws {
        try join(guestA, [use(5001)])
        try leave(guestA, 5001)
        #expect(host.links.names.isEmpty)
        #expect(host.links.stagings.map(\.deleted) == [[.deletedVXLAN("vxlan5001"), .deletedBridge("brvx-5001")]])
        #expect(host.links.deletions == 1 && host.teardowns.pending.isEmpty)
        #expect(host.log.contains(.notice, "teardown VNI 5001: deleted vxlan5001, deleted bridge brvx-5001"))
    }

    @Test func testSegmentStaysWhileAnotherUserHoldsIt() throws {
        try join(guestA, [use(5001, name: "a")])
        try join(guestB, [use(5001, name: "b")])
        try leave(guestA, 5001)
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
        #expect(host.log.contains(.info, "test VNI 5001: kept, used by b"))
    }

    @Test func testLeavingOneNICKeepsAUserWithOtherNICsOnTheVNI() throws {
        try join(guestA, [use(5001, macs: ["52:54:00:00:00:01", "52:54:00:00:00:02"])])
        try leave(guestA, mac: "52:54:00:00:00:01", 5001)
        #expect(try recorded(5001)[guestA]?.macs == ["52:54:00:00:00:02"])
        #expect(nothingTornDown)
    }

    @Test func testLeavingTheLastNICDropsTheUserAndTheSegment() throws {
        try join(guestA, [use(5001, macs: ["52:54:00:00:00:01"])])
        try leave(guestA, mac: "52:54:00:00:00:01", 5001)
        #expect(host.users.records.isEmpty)
        #expect(host.links.names.isEmpty)
    }

    @Test func testLeavingReadsTheLinksOnceForReconcilingAndTeardown() throws {
        try join(guestA, [use(5001)])
        try join(guestB, [use(5001)])
        host.now += 1_000
        try host.lifecycle.leave(guestB, from: names(5001), context: "test")
        #expect(host.links.statusReads == [try VNI(5001)])
        #expect(host.teardowns.pending.count == 1)
    }

    @Test func testLeavingNeverReadsTheLinksWhileOnlyNetworksRemain() throws {
        let network = try #require(SegmentUser(.network, uuid: "4a70a2fb-8ccb-4ca4-8b9b-b0dc1656def9"))
        try join(network, [use(5001)])
        try join(guestA, [use(5001)])
        try leave(guestA, 5001)
        #expect(host.links.statusReads.isEmpty)
        #expect(host.links.names == ["brvx-5001", "vxlan5001"])
    }

    @Test func testLeavingAVNIWithNothingOnItChangesNothing() throws {
        try leave(guestA, 5001)
        #expect(nothingTornDown && host.users.records.isEmpty)
        #expect(host.log.lines.isEmpty)
    }

    // MARK: reconciling

    @Test func testVanishedGuestIsForgottenOnceItsRecordIsStale() throws {
        try join(guestA, [use(5001, name: "gone", macs: ["52:54:00:00:00:01"])])
        try join(guestB, [use(5001, name: "b", macs: ["52:54:00:00:00:02"])])
        host.now += 300
        try leave(guestB, 5001)
        #expect(host.users.records.isEmpty)
        #expect(host.links.names.isEmpty)
        #expect(host.log.contains(.warning, "test VNI 5001: forgot gone (\(guestA)): none of its NICs is on brvx-5001"))
    }

    @Test func testGuestWithoutTapIsKeptWhileItsRecordIsRecent() throws {
        try join(guestA, [use(5001, macs: ["52:54:00:00:00:01"])])
        host.now += 299
        try leave(nil, 5001)
        #expect(try recorded(5001)[guestA] != nil)
        #expect(nothingTornDown)
    }

    @Test func testGuestWhoseTapIsOnTheBridgeIsNeverForgotten() throws {
        try join(guestA, [use(5001, macs: ["52:54:00:AB:00:01"])])
        host.links.plugTap("vnet0", mac: "52:54:00:ab:00:01", into: "brvx-5001")
        host.now += 100_000
        try leave(nil, 5001)
        #expect(try recorded(5001)[guestA] != nil)
    }

    @Test func testNetworksAreNeverForgottenForLackOfTaps() throws {
        let network = try #require(SegmentUser(.network, uuid: "4a70a2fb-8ccb-4ca4-8b9b-b0dc1656def9"))
        try join(network, [use(5001)])
        host.now += 100_000
        try leave(nil, 5001)
        #expect(try recorded(5001)[network] != nil)
    }

    @Test func testCollectingGarbageForgetsVanishedGuestsAndRemovesUnusedSegments() throws {
        try join(guestA, [use(5001, macs: ["52:54:00:00:00:01"])])
        try join(guestB, [use(5002, macs: ["52:54:00:00:00:02"])])
        host.links.plugTap("vnet1", mac: "52:54:00:00:00:02", into: "brvx-5002")
        host.now += 1_000
        try host.lifecycle.collectGarbage([names(5001), names(5002)])
        #expect(host.teardowns.wakes == 1)
        host.lifecycle.reap()
        #expect(host.links.names == ["brvx-5002", "vnet1", "vxlan5002"])
        #expect(try recorded(5002)[guestB] != nil && recorded(5001).isEmpty)
    }

    // MARK: deciding a teardown

    @Test func testTeardownLeavesABridgeThatStillHasAForeignPort() throws {
        try join(guestA, [use(5001)])
        host.links.plugTap("vnet7", mac: "52:54:00:00:00:07", into: "brvx-5001")
        try leave(guestA, 5001)
        #expect(nothingTornDown)
        #expect(host.log.contains(.info, "test VNI 5001: kept, brvx-5001 still has ports vnet7"))
    }

    @Test func testTeardownNeverTouchesAnOperatorsSegment() throws {
        host.links.add(Link(index: 0, name: "brvx-5001", kind: "bridge"))
        try join(guestA, [use(5001)])
        try leave(guestA, 5001)
        #expect(nothingTornDown)
        #expect(host.log.contains(.info, "brvx-5001 was not created by libvirt-vxlan; left in place"))
    }

    @Test func testTeardownOfANameTakenByAnotherKindIsLoggedNotThrown() throws {
        try join(guestA, [use(5001)])
        host.links.add(Link(index: 0, name: "brvx-5002", kind: "veth"))
        try join(guestB, [use(5002)])
        try leave(guestB, 5002)
        #expect(host.log.contains(.error, "test VNI 5002: teardown failed: brvx-5002 exists but is a veth device"))
        #expect(host.locks.held.isEmpty)
    }

    // MARK: batched teardown

    @Test func testLastUserLeavingMarksTheTeardownAndChangesNoLink() throws {
        try join(guestA, [use(5001)])
        try host.lifecycle.leave(guestA, from: names(5001), context: "test")
        #expect(host.teardowns.pending[try VNI(5001)] == (try names(5001)))
        #expect(host.teardowns.wakes == 1)
        #expect(host.links.names == ["brvx-5001", "vxlan5001"] && host.links.stagings.isEmpty)
        #expect(host.locks.held.isEmpty)
    }

    /// 20 segments: three requests (8 + 8 + 4 segments), not twenty.
    @Test func testReaperDeletesThePendingSegmentsInRequestsOfEight() throws {
        let vnis = (5001...5020).map(UInt32.init)
        for vni in vnis {
            try join(guestA, [use(vni)])
            try host.lifecycle.leave(guestA, from: names(vni), context: "test")
        }
        #expect(host.teardowns.pending.count == 20 && host.links.names.count == 40)
        #expect(host.lifecycle.reap().pending.isEmpty)
        #expect(host.links.names.isEmpty && host.teardowns.pending.isEmpty)
        #expect(host.links.deletions == 3)
        #expect(host.locks.held.isEmpty)
        // Each VNI locked once to join, once to leave, once by the reaper, in ascending order.
        #expect(Array(host.locks.taken.suffix(20)) == (try vnis.map { try VNI($0) }))
    }

    @Test func testJoinOfAPendingVNITakesTheTeardownBack() throws {
        try join(guestA, [use(5001)])
        try host.lifecycle.leave(guestA, from: names(5001), context: "test")
        try join(guestB, [use(5001, name: "b")])
        #expect(host.teardowns.pending.isEmpty)
        #expect(host.log.contains(.info, "test VNI 5001: pending teardown taken back"))
        host.lifecycle.reap()
        #expect(host.links.names == ["brvx-5001", "vxlan5001"] && host.links.deletions == 0)
        #expect(try recorded(5001)[guestB] != nil)
    }

    @Test func testReaperKeepsASegmentThatGotAForeignPortWhilePending() throws {
        try join(guestA, [use(5001)])
        try host.lifecycle.leave(guestA, from: names(5001), context: "test")
        host.links.plugTap("vnet7", mac: "52:54:00:00:00:07", into: "brvx-5001")
        host.lifecycle.reap()
        #expect(host.links.names == ["brvx-5001", "vnet7", "vxlan5001"] && host.links.deletions == 0)
        #expect(host.teardowns.pending.isEmpty)
        #expect(host.log.contains(.info, "teardown VNI 5001: kept, brvx-5001 still has ports vnet7"))
    }

    /// A reaper killed between staging and deleting (here: its deletion fails) leaves the
    /// devices staged and marked; a join takes them back into the VNI's group intact.
    @Test func testJoinAfterAReaperStoppedBetweenStagingAndDeletingKeepsTheSegment() throws {
        try join(guestA, [use(5001)])
        try host.lifecycle.leave(guestA, from: names(5001), context: "test")
        host.links.failingDeletion = .underlayDown("ul0")
        #expect(host.lifecycle.reap().pending == [try VNI(5001)])
        #expect(host.links.links["brvx-5001"]?.isStaged == true && host.teardowns.pending.count == 1)
        host.links.failingDeletion = nil
        let created = host.log.lines.filter { $0.message.contains("created") }.count
        try join(guestB, [use(5001)])
        let group = Ownership.interfaceGroup(for: try VNI(5001))
        #expect(host.links.links.values.allSatisfy { $0.group == group })
        #expect(host.log.lines.filter { $0.message.contains("created") }.count == created, "rebuilt, not taken back")
        #expect(host.teardowns.pending.isEmpty)
    }

    /// ...and a later reaper deletes what is still staged and marked.
    @Test func testNextReaperFinishesWhatAStoppedOneStaged() throws {
        try join(guestA, [use(5001)])
        try host.lifecycle.leave(guestA, from: names(5001), context: "test")
        host.links.failingDeletion = .underlayDown("ul0")
        host.lifecycle.reap()
        host.links.failingDeletion = nil
        #expect(host.lifecycle.reap().pending.isEmpty)
        #expect(host.links.names.isEmpty && host.teardowns.pending.isEmpty)
    }

    /// A killed reaper's staging of a VNI that falls in a later batch is not taken for a
    /// stranger by the first batch: every batch is one request.
    @Test func testStagingLeftByAKilledReaperDoesNotSplitTheBatches() throws {
        for vni in UInt32(5001)...5010 {
            try join(guestA, [use(vni)])
            try host.lifecycle.leave(guestA, from: names(vni), context: "test")
        }
        host.links.failingDeletion = .underlayDown("ul0")
        host.lifecycle.reap()
        host.links.failingDeletion = nil
        #expect(host.links.links.values.filter(\.isStaged).count == 20)
        #expect(host.lifecycle.reap().pending.isEmpty)
        #expect(host.links.names.isEmpty && host.links.deletions == 2)
        #expect(!host.log.contains(.warning, "reaping group"))
    }

    /// Killed after deleting, before removing the marks: the next reaper drops them.
    @Test func testMarkOfASegmentAlreadyGoneIsDropped() throws {
        try host.teardowns.mark(names(5001))
        host.lifecycle.reap()
        #expect(host.teardowns.pending.isEmpty && host.links.deletions == 0)
    }

    @Test func testStrangerInTheReapingGroupIsNeverDeleted() throws {
        host.links.add(Link(index: 0, name: "br-operator", kind: "bridge", group: Ownership.reapingGroup))
        try join(guestA, [use(5001)])
        try join(guestA, [use(5002)])
        try leave(guestA, 5001)
        try leave(guestA, 5002)
        #expect(host.links.names == ["br-operator"])
        #expect(host.log.contains(.warning, "br-operator sit in libvirt-vxlan's reaping group"))
    }
}

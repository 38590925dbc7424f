import VXLANCore

/// Every rule of a segment's life on this host, in one place: a user joins a VNI (the
/// segment is made and the user recorded), a user or one of its NICs leaves, guests that
/// vanished without `release` are forgotten, a segment nobody uses is torn down, and a
/// start that fails half-way is rolled back. It decides on snapshots (user records, link
/// state) and acts through `SegmentLinks`, `UserStore`, `SegmentLocks` and
/// `TeardownQueue`, so the hook, `vxlanctl gc` and the tests' fakes all drive the same rules.
///
/// A teardown is decided under the VNI's lock and only marked there; the reaper (`reap`)
/// deletes every marked segment with one kernel request, so that emptying a host costs
/// one RCU grace period instead of one per VNI, and a join of a marked VNI takes the
/// teardown back.
public struct SegmentLifecycle {
    let links: any SegmentLinks
    let users: any UserStore
    let locks: any SegmentLocks
    let teardowns: any TeardownQueue
    let journal: any LifecycleLog
    /// A recorded guest counts as gone when none of its NICs is a port of the bridge and
    /// its record is older than this: long enough for any start (prepare -> tap on bridge).
    let staleAfter: Int
    /// Seconds since the epoch.
    let now: () -> Int

    public init(
        links: any SegmentLinks, users: any UserStore, locks: any SegmentLocks, teardowns: any TeardownQueue,
        journal: any LifecycleLog, staleAfter: Int = 300, now: @escaping () -> Int
    ) {
        self.links = links
        self.users = users
        self.locks = locks
        self.teardowns = teardowns
        self.journal = journal
        self.staleAfter = staleAfter
        self.now = now
    }

    /// One VNI a user joins, and what to record of the user there.
    public struct Use {
        public var plan: SegmentPlan
        public var record: UserRecord
        /// The guest's NICs on this VNI that ask for no `<mtu>`: a virtio guest then keeps
        /// 1500 whatever the segment carries.
        public var interfacesWithoutMTU: [GuestInterface]
        /// What to do about them on a segment below 1500 bytes: warn (the default, and
        /// always for a guest that already runs), or refuse the start.
        public var guestMTU: GuestMTUPolicy

        public init(
            plan: SegmentPlan, record: UserRecord, interfacesWithoutMTU: [GuestInterface] = [],
            guestMTU: GuestMTUPolicy = .warn
        ) {
            self.plan = plan
            self.record = record
            self.interfacesWithoutMTU = interfacesWithoutMTU
            self.guestMTU = guestMTU
        }
    }

    // MARK: joining

    /// Under each VNI's lock in turn: makes the segment and records `user` on it, its MACs
    /// merged with an older record's. If one VNI fails, the VNIs this call joined before
    /// it are left again (torn down if unused), so a failed start leaves nothing half-made;
    /// so is the segment of a guest refused for its MTU (`guest_mtu = "refuse"`).
    /// `context` names the caller in log lines; a call that changes nothing never builds it.
    /// Returns what it did on each VNI.
    @discardableResult
    public func join(_ user: SegmentUser, _ uses: [Use], context: @autoclosure () -> String)
        throws(LifecycleError) -> [JoinOutcome]
    {
        var joined: [JoinOutcome] = []
        for use in uses {
            var made = false
            do {
                try withLock(use.plan.vni) { (_) throws(LifecycleError) in
                    let outcome = try makeSegment(use.plan, context: context())
                    made = true
                    try checkGuestMTU(use, segmentMTU: outcome.mtu, context: context())
                    try record(user, use.record, on: use.plan.vni)
                    joined.append(outcome)
                }
            } catch {
                for names in joined.map(\.names) + (made ? [use.plan.names] : []) {
                    _ = try? leave(user, from: names, context: context())
                }
                throw error
            }
        }
        return joined
    }

    /// Under the VNI's lock: makes the segment and records nobody (CloudStack's agent,
    /// through `vxlanctl modifyvxlan`, which tracks its guests itself).
    public func ensureUnrecorded(_ plan: SegmentPlan, context: String) throws(LifecycleError) -> JoinOutcome {
        var outcome: JoinOutcome?
        try withLock(plan.vni) { (_) throws(LifecycleError) in
            // A teardown still pending would delete what the agent is about to use.
            outcome = try makeSegment(plan, context: context)
        }
        guard let outcome else { throw .refused("VNI \(plan.vni): not made") }
        return outcome
    }

    /// Under the VNI's lock: takes a pending teardown back, then makes the segment.
    private func makeSegment(_ plan: SegmentPlan, context: @autoclosure () -> String) throws(LifecycleError)
        -> JoinOutcome
    {
        let tookBack = try takeBackTeardown(of: plan.names, context: context())
        let result = try ensure(plan, context: context())
        return JoinOutcome(
            names: plan.names, tookBackTeardown: tookBack, changes: result.changes, borrowed: result.borrowed,
            mtu: result.mtu, bridgeKind: result.bridgeKind)
    }

    /// A teardown of this VNI still pending: devices the reaper had staged go back into
    /// the VNI's group, then the mark goes (in that order: a staged device always has a
    /// mark). `ensure` then completes whatever is left, or rebuilds what is gone. Returns
    /// whether there was one.
    private func takeBackTeardown(of names: SegmentNames, context: @autoclosure () -> String)
        throws(LifecycleError) -> Bool
    {
        guard teardowns.isMarked(names.vni) else { return false }
        do {
            let status = try links.status(of: names)
            try links.unstage([status.bridge, status.vxlan].compactMap { $0 }, of: names.vni)
        } catch {
            journal.log(
                .error, "\(context()) VNI \(names.vni): \(error)",
                LogEvent(.segmentFailed, vni: names.vni, outcome: "refused"))
            throw .refused("VNI \(names.vni): \(error)")
        }
        do { try teardowns.unmark(names.vni) } catch { throw .state(error) }
        journal.log(
            .info, "\(context()) VNI \(names.vni): pending teardown taken back",
            LogEvent(.teardownTakenBack, vni: names.vni, outcome: "taken back"))
        return true
    }

    /// Makes the segment.
    private func ensure(_ plan: SegmentPlan, context: @autoclosure () -> String) throws(LifecycleError)
        -> EnsureResult
    {
        do {
            let result = try links.ensure(plan)
            for change in result.changes {
                journal.log(
                    .notice, "\(context()) VNI \(plan.vni): \(change)",
                    LogEvent(.segmentMade, vni: plan.vni, outcome: "made"))
            }
            if result.borrowed {
                journal.log(
                    .info,
                    "\(context()) VNI \(plan.vni): using \(plan.names.bridge), which libvirt-vxlan did not create",
                    LogEvent(.notice, vni: plan.vni, outcome: "borrowed"))
            }
            return result
        } catch {
            journal.log(
                .error, "\(context()) VNI \(plan.vni): \(error)",
                LogEvent(.segmentFailed, vni: plan.vni, outcome: "failed"))
            throw .refused("VNI \(plan.vni): \(error)")
        }
    }

    /// A segment below 1500 bytes and a NIC that does not ask for its MTU: the guest sends
    /// frames the segment cannot carry, and they are lost without an error. Warned about,
    /// or refused with the first such NIC when the operator asks for it.
    private func checkGuestMTU(_ use: Use, segmentMTU mtu: Int, context: String) throws(LifecycleError) {
        guard mtu < GuestInterface.defaultGuestMTU else { return }
        for nic in use.interfacesWithoutMTU {
            let advice = nic.mtuAdvice(segmentMTU: mtu)
            guard use.guestMTU == .warn else {
                journal.log(
                    .error, "\(context) VNI \(use.plan.vni): refused: \(advice)",
                    LogEvent(.useRefused, vni: use.plan.vni, outcome: "refused"))
                throw .refused(
                    "VNI \(use.plan.vni): \(advice) (guest_mtu = \"refuse\"; vxlanctl guest-mtu --apply "
                        + "\(use.record.name.escapedForMessage) does it)")
            }
            journal.log(
                .warning, "\(context) VNI \(use.plan.vni): \(advice)",
                LogEvent(.notice, vni: use.plan.vni, outcome: "warned"))
        }
    }

    private func record(_ user: SegmentUser, _ record: UserRecord, on vni: VNI) throws(LifecycleError) {
        var merged = record
        if let existing = users.record(of: user, on: vni) {
            merged.macs = Array(Set(existing.macs + record.macs)).sorted()
        }
        do { try users.add(user, merged, on: vni) } catch { throw .state(error) }
    }

    // MARK: leaving

    /// Under the VNI's lock: drops `user` (or only its NIC `mac`, when the user has others
    /// on the VNI), forgets vanished guests, and tears the segment down if no user is
    /// left. With no user, only reconciles (`vxlanctl gc`). Teardown failures are logged
    /// and reported, not thrown: the guest is gone whatever the kernel says. With an
    /// inline reaper (vxlanctl, the CloudStack entry), the outcome says what it deleted.
    @discardableResult
    public func leave(_ user: SegmentUser?, mac: String? = nil, from names: SegmentNames, context: String)
        throws(LifecycleError) -> LeaveOutcome
    {
        let outcome = try withLock(names.vni) { (_) throws(LifecycleError) in
            try leaveUnderLock(names, context: context) { (recorded) throws(StateError) in
                if let user, let mac, var record = recorded[user], record.macs.contains(mac), record.macs.count > 1 {
                    record.macs.removeAll { $0 == mac }
                    try users.add(user, record, on: names.vni)
                    recorded[user] = record
                } else if let user {
                    try users.remove(user, from: names.vni)
                    recorded[user] = nil
                }
                return []
            }
        }
        return reaped([outcome]).first ?? outcome
    }

    /// `vxlanctl teardown`: under the VNI's lock, drops the operator's record (`vxlanctl
    /// ensure`) and tears the segment down if no other user is recorded. With users left
    /// the segment is kept and the outcome names them; `force` drops their records first
    /// (each is logged), for a host whose records are known to be wrong.
    public func tearDown(_ names: SegmentNames, force: Bool, context: String) throws(LifecycleError) -> LeaveOutcome {
        let outcome = try withLock(names.vni) { (_) throws(LifecycleError) in
            try leaveUnderLock(names, context: context) { (recorded) throws(StateError) in
                try users.remove(.operator, from: names.vni)
                recorded[.operator] = nil
                guard force else { return [] }
                var dropped: [Holder] = []
                for (user, record) in recorded {
                    try users.remove(user, from: names.vni)
                    let holder = Holder(user, record)
                    dropped.append(holder)
                    journal.log(
                        .warning, "\(context) VNI \(names.vni): --force: forgot \(holder) (\(user))",
                        LogEvent(.guestForgotten, vni: names.vni, outcome: "dropped"))
                }
                recorded = [:]
                return dropped.sorted()
            }
        }
        return reaped([outcome]).first ?? outcome
    }

    /// `vxlanctl gc`: for each VNI, forgets vanished guests and marks the segment's
    /// teardown if nobody uses it any more; then one reaper deletes them all at once.
    @discardableResult
    public func collectGarbage(_ segments: [SegmentNames]) throws(LifecycleError) -> [LeaveOutcome] {
        var outcomes: [LeaveOutcome] = []
        for names in segments {
            outcomes.append(
                try withLock(names.vni) { (_) throws(LifecycleError) in
                    try leaveUnderLock(names, context: "gc") { (_) throws(StateError) in [] }
                })
        }
        return reaped(outcomes, orAnyMarked: true)
    }

    /// Holding the VNI's lock: `change` edits the recorded users (and returns those it
    /// dropped), vanished guests are forgotten, and the teardown is marked if nobody is left.
    private func leaveUnderLock(
        _ names: SegmentNames, context: String,
        change: (inout [SegmentUser: UserRecord]) throws(StateError) -> [Holder]
    ) throws(LifecycleError) -> LeaveOutcome {
        var links = LinkSnapshot(names: names, of: self.links)
        var outcome = LeaveOutcome(names: names, forgotten: [], dropped: [], decision: .absent)
        do throws(StateError) {
            var recorded = try users.users(of: names.vni)
            outcome.dropped = try change(&recorded)
            (recorded, outcome.forgotten) = try forgetVanished(recorded, on: names, links: &links, context: context)
            guard recorded.isEmpty else {
                let reason = KeptReason.usedBy(recorded.map { Holder($0.key, $0.value) }.sorted())
                journal.log(
                    .info, "\(context) VNI \(names.vni): \(reason)",
                    LogEvent(.segmentKept, vni: names.vni, outcome: "kept"))
                outcome.decision = .kept(reason)
                return outcome
            }
        } catch {
            throw .state(error)
        }
        outcome.decision = markTeardown(names, links: &links, context: "\(context) VNI \(names.vni)")
        return outcome
    }

    /// Wakes the reaper if one of `outcomes` left a teardown pending, or with
    /// `orAnyMarked` if any VNI has one (gc: what a killed reaper left); with an inline
    /// reaper, the outcomes then say what it did to their VNIs. A leave that keeps its
    /// segment reads no mark (the hook's release of a guest that is not the last).
    private func reaped(_ outcomes: [LeaveOutcome], orAnyMarked: Bool = false) -> [LeaveOutcome] {
        let pending = outcomes.contains { $0.decision.isTeardownPending }
        guard pending || (orAnyMarked && !teardowns.marked().isEmpty), let reap = teardowns.wake() else {
            return outcomes
        }
        return outcomes.map { outcome in
            guard outcome.decision.isTeardownPending else { return outcome }
            var outcome = outcome
            if let removal = reap.removal(of: outcome.vni) {
                outcome.decision = .removed(removal)
            } else if let reason = reap.kept[outcome.vni] {
                outcome.decision = .kept(reason)
            } else if let failure = reap.failed[outcome.vni] {
                outcome.decision = .failed(failure)
            } else if !teardowns.isMarked(outcome.vni) {
                // Another process's reaper (the hook's) deleted it while this one waited
                // for the reaper lock: nothing was left for this call to remove.
                outcome.decision = .absent
            }
            return outcome
        }
    }

    /// Forgets guests that vanished without `release`: records older than `staleAfter`
    /// none of whose NICs is a port of the bridge (libvirt names a guest's tap after its
    /// MAC, fe:...). Without a bridge to look at, or when the lookup fails, forgets nobody.
    private func forgetVanished(
        _ recorded: [SegmentUser: UserRecord], on names: SegmentNames, links: inout LinkSnapshot, context: String
    ) throws(StateError) -> ([SegmentUser: UserRecord], forgotten: [Holder]) {
        let guests = recorded.filter { $0.key.kind == .domain }
        guard !guests.isEmpty, case .success(let status) = links.status, status.bridge != nil else {
            return (recorded, [])
        }
        let taps = GuestTaps(onBridgePorts: status.ports)
        let now = now()
        var remaining = recorded
        var forgotten: [Holder] = []
        for (user, record) in guests where record.mayHaveVanished(now: now, staleAfter: staleAfter, taps: taps) {
            try users.remove(user, from: names.vni)
            remaining[user] = nil
            forgotten.append(Holder(user, record))
            journal.log(
                .warning,
                "\(context) VNI \(names.vni): forgot \(record.name) (\(user)): none of its NICs is on \(names.bridge)",
                LogEvent(.guestForgotten, vni: names.vni, outcome: "forgotten"))
        }
        return (remaining, forgotten.sorted())
    }

    /// Marks the segment's teardown if the links allow it (`SegmentStatus.teardownPlan`):
    /// only devices of ours, and no port but our vxlan device on the bridge. The devices
    /// stay as they are; the reaper re-checks and deletes them (`reap`).
    private func markTeardown(_ names: SegmentNames, links snapshot: inout LinkSnapshot, context: String)
        -> LeaveDecision
    {
        do {
            switch try snapshot.status.get().teardownPlan() {
            case .remove(let removal):
                if teardowns.isMarked(names.vni) { return .teardownPending(removal) }
                do { try teardowns.mark(names) } catch {
                    journal.log(
                        .error, "\(context): teardown failed: \(error)",
                        LogEvent(.segmentFailed, vni: names.vni, outcome: "failed"))
                    return .failed("\(error)")
                }
                journal.log(
                    .info, "\(context): teardown pending",
                    LogEvent(.teardownPending, vni: names.vni, outcome: "pending"))
                return .teardownPending(removal)
            case .leave(let result):
                guard let reason = KeptReason(result, bridge: names.bridge) else { return .absent }
                journal.log(.info, "\(context): \(reason)", LogEvent(.segmentKept, vni: names.vni, outcome: "kept"))
                return .kept(reason)
            }
        } catch {
            // The user is gone already; what kept the segment is for the journal.
            journal.log(
                .error, "\(context): teardown failed: \(error)",
                LogEvent(.segmentFailed, vni: names.vni, outcome: "failed"))
            return .failed("\(error)")
        }
    }

    // MARK: the reaper

    /// Deletes every pending teardown's segment, `segmentsPerRequest` segments per kernel
    /// request. Run by one process at a time (the queue's reaper lock), with no VNI lock
    /// held: takes the lock of every marked VNI, in ascending order at each look and
    /// looking again until no new mark has arrived (hook calls hold one VNI lock at a
    /// time and the reaper is alone, so this cannot deadlock). Under those locks it
    /// re-checks each (still marked, no user, still ours, no foreign port), then per
    /// batch stages what may go, deletes the staged devices at once, removes their marks.
    /// A mark written after the last look stays for the reaper that its writer wakes.
    /// Returns what it did; the VNIs it left pending failed (the journal says why).
    @discardableResult
    public func reap() -> ReapOutcome {
        var outcome = ReapOutcome()
        var held: [(names: SegmentNames, lock: any SegmentLock)] = []
        defer { for entry in held { entry.lock.release() } }
        while true {
            let known = Set(held.map(\.names.vni))
            let arrived = teardowns.marked().filter { !known.contains($0.vni) }
            guard !arrived.isEmpty else { break }
            for names in arrived {
                do { held.append((names, try locks.lock(names.vni))) } catch {
                    journal.log(
                        .error, "teardown VNI \(names.vni): \(error)",
                        LogEvent(.teardownFailed, vni: names.vni, outcome: "failed"))
                    outcome.failed[names.vni] = "\(error)"
                }
            }
        }
        let removals = held.sorted { $0.names.vni < $1.names.vni }.compactMap {
            removalIfStillUnused($0.names, outcome: &outcome)
        }
        for start in stride(from: 0, to: removals.count, by: Self.segmentsPerRequest) {
            let batch = removals[start..<min(start + Self.segmentsPerRequest, removals.count)]
            let staged = batch.filter { removal in
                do { try links.stage(removal) } catch {
                    journal.log(
                        .error, "teardown VNI \(removal.vni): \(error); left pending",
                        LogEvent(.teardownFailed, vni: removal.vni, outcome: "failed"))
                    outcome.failed[removal.vni] = "\(error)"
                    return false
                }
                return true
            }
            if !staged.isEmpty { deleteStaged(staged, outcome: &outcome) }
        }
        outcome.pending = held.map(\.names.vni).filter { teardowns.isMarked($0) }.sorted()
        return outcome
    }

    /// Segments deleted per kernel request. The kernel still waits one RCU grace period
    /// per bridge (and per bridge port) inside a request, all under RTNL, so one request
    /// for a whole evacuation would keep every other netlink call (a guest's prepare)
    /// waiting for seconds; a request saves its fixed cost and lets waiting calls in
    /// between. Measured in `Benchmarks/run` (evacuation, churn; docs/benchmarks.md).
    static let segmentsPerRequest = 8

    /// One request for every staged device; then the marks go. On failure both stay, for
    /// the next reaper or a join that takes them back.
    private func deleteStaged(_ staged: [SegmentRemoval], outcome: inout ReapOutcome) {
        do {
            let strangers = try links.deleteStaged(staged.flatMap(\.devices))
            if !strangers.isEmpty {
                journal.log(
                    .warning,
                    "teardown: \(strangers.joined(separator: ", ")) sit in libvirt-vxlan's reaping group "
                        + "\(Ownership.reapingGroup) without being ours; left in place, deleted ours one by one")
            }
        } catch {
            for removal in staged {
                journal.log(
                    .error, "teardown VNI \(removal.vni) (one of \(staged.count) in a batch): \(error); left pending",
                    LogEvent(.teardownFailed, vni: removal.vni, outcome: "failed"))
                outcome.failed[removal.vni] = "\(error)"
            }
            return
        }
        for removal in staged {
            outcome.removed.append(removal)
            journal.log(
                .notice, "teardown VNI \(removal.vni): \(removal.deletedLine)",
                LogEvent(.segmentRemoved, vni: removal.vni, outcome: "removed"))
            do { try teardowns.unmark(removal.vni) } catch {
                journal.log(
                    .error, "teardown VNI \(removal.vni): \(error)",
                    LogEvent(.teardownFailed, vni: removal.vni, outcome: "failed"))
            }
        }
    }

    /// Under the VNI's lock: the removal, or nil when the teardown was taken back or is
    /// not wanted any more (then staged devices go back and the mark goes).
    private func removalIfStillUnused(_ names: SegmentNames, outcome: inout ReapOutcome) -> SegmentRemoval? {
        let context = "teardown VNI \(names.vni)"
        guard teardowns.isMarked(names.vni) else { return nil }
        do {
            let recorded = try users.users(of: names.vni)
            let status = try links.status(of: names)
            let plan = try status.teardownPlan()
            if recorded.isEmpty, case .remove(let removal) = plan {
                // What a killed reaper staged goes back: each batch deletes only its own.
                try links.unstage(removal.devices, of: names.vni)
                return removal
            }
            let reason =
                recorded.isEmpty
                ? plan.keptReason(bridge: names.bridge) : .usedBy(recorded.map { Holder($0.key, $0.value) }.sorted())
            if let reason {
                journal.log(.info, "\(context): \(reason)", LogEvent(.segmentKept, vni: names.vni, outcome: "kept"))
                outcome.kept[names.vni] = reason
            }
            try links.unstage([status.bridge, status.vxlan].compactMap { $0 }, of: names.vni)
            try teardowns.unmark(names.vni)
        } catch {
            journal.log(
                .error, "\(context): \(error); left pending",
                LogEvent(.teardownFailed, vni: names.vni, outcome: "failed"))
            outcome.failed[names.vni] = "\(error)"
        }
        return nil
    }

    // MARK: helpers

    private func withLock<Result>(_ vni: VNI, _ body: (any SegmentLock) throws(LifecycleError) -> Result)
        throws(LifecycleError) -> Result
    {
        let lock: any SegmentLock
        do { lock = try locks.lock(vni) } catch { throw .state(error) }
        defer { lock.release() }
        return try body(lock)
    }
}

/// The VNI's links, read once when a rule first needs them: reconciling and deciding a
/// teardown look at the same state, since nothing in between changes a link.
struct LinkSnapshot {
    let names: SegmentNames
    let links: any SegmentLinks
    private var taken: Result<SegmentStatus, ConvergeError>?

    init(names: SegmentNames, of links: any SegmentLinks) {
        self.names = names
        self.links = links
    }

    var status: Result<SegmentStatus, ConvergeError> {
        mutating get {
            if let taken { return taken }
            let status = Result { () throws(ConvergeError) in try links.status(of: names) }
            taken = status
            return status
        }
    }
}

import VXLANCore

// The watcher's rule (`vxlanctl watch`): between lifecycle events, bring every segment
// that has users back to the plan the hook last applied to it. The plan is recorded when
// a user joins, because the hook alone knows it: a libvirt network's bridge name and
// metadata come from XML that only its hook call reads.

/// The plan each VNI's segment was last converged to by a join. Only touched while the
/// VNI's lock is held.
public protocol SegmentPlans {
    /// The plan recorded for `vni`; nil if none was, or if it cannot be read.
    func plan(of vni: VNI) -> SegmentPlan?
    /// Whether a plan is recorded for `vni`, without reading it.
    func hasPlan(for vni: VNI) -> Bool
    /// Records `plan` for its VNI, replacing an older one.
    func record(_ plan: SegmentPlan) throws(StateError)
}

/// Links a repair may also fix by replacing our vxlan device when the host changed under
/// it (`SegmentConverger.replaceStale`).
public protocol RepairableLinks: SegmentLinks {
    func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentChange?
}

/// The hook's links, recording the plan a join converges to: when the segment had to
/// change for it, or when none is recorded yet. A join that changed nothing found the
/// segment already matching its plan, and the recorded one with it, so most joins (a
/// guest on a VNI in use) cost one stat, not a write. A plan that cannot be recorded
/// costs the guest nothing (the hook works without the watcher): it is logged, and the
/// watcher leaves that segment alone until a later join records one.
public struct PlanRecordingLinks: SegmentLinks {
    let links: any SegmentLinks
    let plans: any SegmentPlans
    let journal: any LifecycleLog

    public init(links: any SegmentLinks, plans: any SegmentPlans, journal: any LifecycleLog) {
        self.links = links
        self.plans = plans
        self.journal = journal
    }

    /// The plan recorded is the one converged to: with the bridge kind ensure found or
    /// made, so that a repair makes the same kind again.
    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        let result = try links.ensure(plan)
        guard !result.changes.isEmpty || !plans.hasPlan(for: plan.vni) else { return result }
        var converged = plan
        converged.bridgeKind = result.bridgeKind
        converged.adoptsExistingKind = false
        do { try plans.record(converged) } catch {
            journal.log(
                .warning, "VNI \(plan.vni): vxlanctl watch will not repair this segment: \(error)",
                LogEvent(.notice, vni: plan.vni, outcome: "unrecorded"))
        }
        return result
    }

    public func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        try links.status(of: names)
    }

    public func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        try links.stage(removal)
    }

    public func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        try links.unstage(devices, of: vni)
    }

    public func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        try links.deleteStaged(devices)
    }
}

/// One VNI's repair, decided under its lock on what the records say at that moment.
public struct SegmentRepair {
    let links: any RepairableLinks
    let users: any UserStore
    let locks: any SegmentLocks
    let plans: any SegmentPlans
    /// The configuration's plan for a VNI (vxlan.conf as it is now), for a segment whose
    /// plan was never recorded (joined before an upgrade): what the hook makes for a
    /// guest, so used only when every user is a guest; a libvirt network's plan comes
    /// from its XML, which the watcher does not have.
    let configured: (VNI) -> SegmentPlan?

    public init(
        links: any RepairableLinks, users: any UserStore, locks: any SegmentLocks, plans: any SegmentPlans,
        configured: @escaping (VNI) -> SegmentPlan?
    ) {
        self.links = links
        self.users = users
        self.locks = locks
        self.plans = plans
        self.configured = configured
    }

    /// The plan to converge `vni` to, given its users.
    public func plan(of vni: VNI, users recorded: [SegmentUser: UserRecord]) -> SegmentPlan? {
        if let plan = plans.plan(of: vni) { return plan.vni == vni ? plan : nil }
        return recorded.keys.allSatisfy { $0.kind == .domain } ? configured(vni) : nil
    }

    public enum Outcome: Equatable, Sendable {
        /// No user left: nothing done. A segment whose last user left is never brought
        /// back, and one being torn down (its teardown holds the lock) is never raced.
        case unused
        /// Users, but no recorded plan: nothing done (see `PlanRecordingLinks`).
        case unplanned
        /// Converged; what it changed, for the journal (empty: nothing to do).
        case converged([SegmentChange])
        /// The segment could not be converged; left as it was found.
        case failed(String)
    }

    /// Under the VNI's lock: re-reads the users and the plan, then converges with the
    /// hook's own `ensure`, which touches no device that is not ours. An owned vxlan
    /// device that the host changed under (`replaceStale`) is replaced first.
    public func repair(_ vni: VNI) -> Outcome {
        let lock: any SegmentLock
        do { lock = try locks.lock(vni) } catch { return .failed("runtime state: \(error)") }
        defer { lock.release() }
        let recorded: [SegmentUser: UserRecord]
        do { recorded = try users.users(of: vni) } catch { return .failed("runtime state: \(error)") }
        guard !recorded.isEmpty else { return .unused }
        guard let plan = plan(of: vni, users: recorded) else { return .unplanned }
        do {
            return .converged(try links.ensure(plan).changes)
        } catch {
            guard case .ownedDeviceDiffers = error else { return .failed(error.description) }
            do {
                guard let replaced = try links.replaceStale(plan) else { return .failed(error.description) }
                return .converged([replaced] + (try links.ensure(plan).changes))
            } catch {
                return .failed(error.description)
            }
        }
    }
}

import VXLANCore

// The lifecycle's view of the system: three small protocols, one per boundary, so that
// every rule in `SegmentLifecycle` runs against in-memory fakes in the tests. HookRuntime
// implements them with netlink, files under /run/libvirt-vxlan and flock.

/// The host's links, as far as one VNI's segment is concerned.
public protocol SegmentLinks {
    /// Makes the host match `plan`, repairing whatever is partial (`SegmentConverger.ensure`).
    func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult

    /// The VNI's bridge, vxlan device and bridge ports, by name lookups.
    func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus

    /// Moves the removal's devices into the reaping group (`Ownership.reapingGroup`).
    func stage(_ removal: SegmentRemoval) throws(ConvergeError)

    /// Moves `devices` that are staged back into the VNI's own group.
    func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError)

    /// Deletes the staged `devices`, in one request when nothing else sits in the
    /// reaping group. Returns the names of links of
    /// others found in it, which stay.
    func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String]
}

/// Teardowns decided under a VNI's lock and carried out later by the reaper
/// (`SegmentLifecycle.reap`), many VNIs in one kernel request. A mark is written under
/// the VNI's lock, before anything else changes, and removed only after the deletion or
/// when the teardown is taken back, so a crash at any point leaves it for the next call.
public protocol TeardownQueue {
    /// Marks the segment's teardown as pending; the names tell the reaper what to delete
    /// even if the configuration changes in between.
    func mark(_ names: SegmentNames) throws(StateError)
    func unmark(_ vni: VNI) throws(StateError)
    func isMarked(_ vni: VNI) -> Bool
    /// Every pending teardown, by ascending VNI.
    func marked() -> [SegmentNames]
    /// Makes sure a reaper (`SegmentLifecycle.reap`) runs soon. Called with no VNI lock
    /// held: the reaper takes the locks of every pending VNI. Returns what the reaper did
    /// when it ran in this process before returning (vxlanctl), nil when it runs elsewhere
    /// or later (the hook's detached reaper).
    func wake() -> ReapOutcome?
}

/// Who uses which VNI. Only touched while the VNI's lock is held.
public protocol UserStore {
    /// Every user recorded on `vni`.
    func users(of vni: VNI) throws(StateError) -> [SegmentUser: UserRecord]
    /// `user`'s record on `vni`, if any.
    func record(of user: SegmentUser, on vni: VNI) -> UserRecord?
    /// Records `user` on `vni`, replacing an older record.
    func add(_ user: SegmentUser, _ record: UserRecord, on vni: VNI) throws(StateError)
    /// Forgets `user` on `vni`; returns whether it was recorded.
    @discardableResult func remove(_ user: SegmentUser, from vni: VNI) throws(StateError) -> Bool
}

/// One exclusive lock per VNI: calls on the same VNI run one after the other.
public protocol SegmentLocks {
    func lock(_ vni: VNI) throws(StateError) -> any SegmentLock
}

/// A held VNI lock.
public protocol SegmentLock: AnyObject {
    func release()
}

/// Where the lifecycle says what it did or refused: the journal in the hook.
public protocol LifecycleLog {
    func log(_ level: LogLevel, _ message: String)
}

/// syslog's priorities, the ones the lifecycle uses.
public enum LogLevel: Sendable {
    case error, warning, notice, info, debug
}

import HostNetwork
import VXLANCore

// The lifecycle's view of the system: three small protocols, one per boundary, so that
// every rule in `SegmentLifecycle` runs against in-memory fakes in the tests. HookRuntime
// implements them with netlink, files under /run/libvirt-vxlan and flock.

/// The host's links, as far as one VNI's segment is concerned.
public protocol SegmentLinks {
    /// Makes the host match `plan`, repairing whatever is partial (`SegmentConverger.ensure`).
    func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentConverger.EnsureResult

    /// The VNI's bridge, vxlan device and bridge ports, by name lookups.
    func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus

    /// Deletes the devices `removal` names and hands the outcome to `report`, here or in a
    /// detached child that keeps `lock` until it is done.
    func remove(
        _ removal: SegmentConverger.Removal, keeping lock: any SegmentLock,
        report: (Result<[SegmentConverger.Action], ConvergeError>) -> Void)
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

import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// The lifecycle's `SegmentLinks` over this host's netlink: `SegmentConverger` for
/// ensure and removal, name lookups for status.
public struct HostLinks: RepairableLinks {
    let network: NetlinkSession
    let teardownStyle: TeardownStyle

    /// Where a teardown's deletion runs once it is decided.
    public enum TeardownStyle: Sendable {
        /// In this process: vxlanctl, whose caller wants to see the result.
        case inline
        /// In a detached child that holds the VNI's lock (`DetachedChild`): the hook,
        /// so that libvirt does not wait out the kernel's RCU grace period.
        case detached
    }

    public init(network: NetlinkSession, teardownStyle: TeardownStyle) {
        self.network = network
        self.teardownStyle = teardownStyle
    }

    /// A netlink session in this process's namespace; in debug builds its changes are
    /// crash points (`FaultInjection`).
    public static func openNetlink() throws(NetlinkError) -> NetlinkSession {
        let network = try NetlinkSession()
        #if DEBUG
            network.changeSucceeded = FaultInjection.changeSucceeded
        #endif
        return network
    }

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentConverger.EnsureResult {
        try SegmentConverger(network: network).ensure(plan)
    }

    public func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentConverger.Action? {
        try SegmentConverger(network: network).replaceStale(plan)
    }

    public func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        do { return try network.status(of: names) } catch { throw .netlink(error) }
    }

    public func remove(
        _ removal: SegmentConverger.Removal, keeping lock: any SegmentLock,
        report: (Result<[SegmentConverger.Action], ConvergeError>) -> Void
    ) {
        // The locks are StateDirectory's VNILocks: the child keeps the VNI's lock by keeping
        // its descriptor open.
        if teardownStyle == .detached, let lock = lock as? VNILock,
            DetachedChild.run(keeping: lock.descriptor, { report(Self.remove(removal, with: nil)) })
        {
            return
        }
        report(Self.remove(removal, with: network))
    }

    /// The deletion itself; a detached child opens a netlink socket of its own (`network`
    /// nil), since the parent goes on using its socket for the guest's other VNIs.
    private static func remove(
        _ removal: SegmentConverger.Removal, with network: NetlinkSession?
    ) -> Result<[SegmentConverger.Action], ConvergeError> {
        let session: NetlinkSession
        if let network {
            session = network
        } else {
            do { session = try openNetlink() } catch { return .failure(.netlink(error)) }
        }
        do { return .success(try SegmentConverger(network: session).remove(removal)) } catch { return .failure(error) }
    }
}

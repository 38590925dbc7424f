import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// The lifecycle's `SegmentLinks` over this host's netlink: `SegmentConverger` for
/// ensure and the reaper's staging and deletion, name lookups for status.
public struct HostLinks: RepairableLinks {
    let network: NetlinkSession

    public init(network: NetlinkSession) {
        self.network = network
    }

    /// A netlink session in this process's namespace; in debug builds its changes are
    /// crash points (`FaultInjection`).
    public static func openNetlink() throws(KernelError) -> NetlinkSession {
        let network = try NetlinkSession()
        #if DEBUG
            network.changeSucceeded = FaultInjection.changeSucceeded
        #endif
        return network
    }

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        try converger.ensure(plan)
    }

    public func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentChange? {
        try converger.replaceStale(plan)
    }

    public func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        do { return try network.status(of: names) } catch { throw .kernel(error) }
    }

    public func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        try converger.stage(removal)
    }

    public func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        try converger.unstage(devices, of: vni)
    }

    public func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        try converger.deleteStaged(devices)
    }

    private var converger: SegmentConverger { SegmentConverger(kernel: network) }
}

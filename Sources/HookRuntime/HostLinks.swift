import Glibc
import HostNetwork
import Lifecycle
import VXLANCore

/// The lifecycle's `SegmentLinks` over this host's netlink: `SegmentConverger` for
/// ensure and the reaper's staging and deletion, name lookups for status. Built by
/// `SegmentHost` only.
struct HostLinks: RepairableLinks {
    let network: NetlinkSession
    /// See `SegmentConverger.verifiesForwarding`.
    let verifiesForwarding: Bool

    func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        try converger.ensure(plan)
    }

    func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentChange? {
        try converger.replaceStale(plan)
    }

    func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        do { return try network.status(of: names) } catch { throw .kernel(error) }
    }

    func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        try converger.stage(removal)
    }

    func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        try converger.unstage(devices, of: vni)
    }

    func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        try converger.deleteStaged(devices)
    }

    private var converger: SegmentConverger {
        SegmentConverger(kernel: network, verifiesForwarding: verifiesForwarding)
    }
}

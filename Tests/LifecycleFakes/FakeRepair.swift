import HostNetwork
import Lifecycle
import VXLANCore

/// Recorded plans in memory.
public final class FakePlans: SegmentPlans {
    public var plans: [VNI: SegmentPlan] = [:]
    /// When set, every record fails with it.
    public var failure: StateError?

    public init() {}

    public func plan(of vni: VNI) -> SegmentPlan? { plans[vni] }

    public func record(_ plan: SegmentPlan) throws(StateError) {
        if let failure { throw failure }
        plans[plan.vni] = plan
    }
}

/// `FakeLinks` whose vxlan devices may be stale: a VNI in `stale` fails `ensure` with
/// `ownedDeviceDiffers` (as a device whose VTEP address is gone does) until
/// `replaceStale` deletes it; a VNI in `foreign` differs in a way no repair may fix.
public final class FakeRepairableLinks: RepairableLinks {
    public let links: FakeLinks
    public var stale: Set<VNI> = []
    public var foreign: Set<VNI> = []
    public private(set) var ensured: [VNI] = []

    public init(_ links: FakeLinks) {
        self.links = links
    }

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentConverger.EnsureResult {
        ensured.append(plan.vni)
        if stale.contains(plan.vni) || foreign.contains(plan.vni) {
            throw .ownedDeviceDiffers(
                name: plan.names.vxlan.rawValue, vni: plan.vni, differences: ["local 192.0.2.9 instead of 192.0.2.1"])
        }
        return try links.ensure(plan)
    }

    public func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentConverger.Action? {
        guard stale.remove(plan.vni) != nil else { return nil }
        links.delete(plan.names.vxlan.rawValue)
        return SegmentConverger.Action(
            description: "deleted \(plan.names.vxlan) (local 192.0.2.9 instead of 192.0.2.1)")
    }

    public func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        try links.status(of: names)
    }

    public func remove(
        _ removal: SegmentConverger.Removal, keeping lock: any SegmentLock,
        report: (Result<[SegmentConverger.Action], ConvergeError>) -> Void
    ) {
        links.remove(removal, keeping: lock, report: report)
    }
}

import Lifecycle
import VXLANCore

/// Recorded plans in memory.
public final class FakePlans: SegmentPlans {
    public var plans: [VNI: SegmentPlan] = [:]
    /// When set, every record fails with it.
    public var failure: StateError?

    public init() {}

    public func plan(of vni: VNI) -> SegmentPlan? { plans[vni] }

    public func hasPlan(for vni: VNI) -> Bool { plans[vni] != nil }

    public func record(_ plan: SegmentPlan) throws(StateError) {
        if let failure { throw failure }
        plans[plan.vni] = plan
    }
}

extension FakeLinks: RepairableLinks {
    /// What `ensure` throws for a VNI in `staleVXLANs`.
    static func staleDevice(_ plan: SegmentPlan) -> ConvergeError {
        .ownedDeviceDiffers(
            name: plan.names.vxlan.rawValue, vni: plan.vni, differences: ["local 192.0.2.9 instead of 192.0.2.1"])
    }

    /// Deletes the vxlan device of a VNI in `staleVXLANs`; leaves any other alone.
    public func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentChange? {
        guard staleVXLANs.remove(plan.vni) != nil else { return nil }
        delete(plan.names.vxlan.rawValue)
        return .deletedVXLAN(plan.names.vxlan.rawValue, stale: ["local 192.0.2.9 instead of 192.0.2.1"])
    }
}

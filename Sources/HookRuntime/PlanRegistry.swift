import Glibc
import Lifecycle
import VXLANCore

/// The plan each VNI was last converged to, for `vxlanctl watch`: one file beside the
/// VNI's user records, `/run/libvirt-vxlan/vni/5001/plan` (`SegmentPlan.recordText`).
/// Its name is no user's file name, so `UserRegistry` never takes it for one.
public struct PlanRegistry: SegmentPlans, Sendable {
    public let state: StateDirectory

    public init(state: StateDirectory) {
        self.state = state
    }

    func path(_ vni: VNI) -> String { "\(state.usersPath(vni))/plan" }

    public func plan(of vni: VNI) -> SegmentPlan? {
        guard let bytes = try? readFile(at: path(vni), limit: 4096) else { return nil }
        return SegmentPlan(recordText: String(decoding: bytes, as: UTF8.self))
    }

    /// Atomic: write then rename, like a user record.
    public func record(_ plan: SegmentPlan) throws(StateError) {
        try state.makeFolders("vni", plan.vni.description)
        try state.writeAtomically(plan.recordText, to: path(plan.vni))
    }
}

import Glibc
import Lifecycle
import VXLANCore

/// The plan each VNI was last converged to, for `vxlanctl watch`: one file per VNI,
/// `/run/libvirt-vxlan/plans/5001` (`SegmentPlan.recordText`), written under the VNI's
/// lock. Not a crash point of the fault-injection tests: the hook never reads it, and a
/// missing one only keeps the watcher off that segment.
public struct PlanRegistry: SegmentPlans, Sendable {
    public let state: StateDirectory

    public init(state: StateDirectory) {
        self.state = state
    }

    public func plan(of vni: VNI) -> SegmentPlan? {
        guard let bytes = try? readFile(at: state.planPath(vni), limit: 4096) else { return nil }
        return SegmentPlan(recordText: String(decoding: bytes, as: UTF8.self))
    }

    public func hasPlan(for vni: VNI) -> Bool {
        access(state.planPath(vni), F_OK) == 0
    }

    /// Atomic: write then rename, like a user record. Not a crash point of the
    /// fault-injection tests: a lost plan costs only the watcher's fallback, never a guest.
    public func record(_ plan: SegmentPlan) throws(StateError) {
        try state.makeFolders("plans")
        try state.writeAtomically(plan.recordText, to: state.planPath(plan.vni), isCrashPoint: false)
    }
}

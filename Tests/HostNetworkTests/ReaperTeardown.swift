import HostNetwork
import VXLANCore

/// One segment's teardown as the reaper does it (`SegmentLifecycle.reap`): decided on its
/// status, staged, deleted with the reaping group.
enum TeardownDone: Equatable {
    case removed([SegmentChange])
    case left(TeardownResult)
}

extension SegmentConverger {
    func teardown(_ names: SegmentNames, reading kernel: any LinkKernel) throws -> TeardownDone {
        switch try kernel.status(of: names).teardownPlan() {
        case .remove(let removal):
            try stage(removal)
            _ = try deleteStaged(removal.devices)
            return .removed(removal.deleted)
        case .leave(let result):
            return .left(result)
        }
    }
}

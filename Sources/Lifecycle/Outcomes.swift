import VXLANCore

// What the lifecycle's rules did, as values: the journal, vxlanctl (text and --json) and
// the CloudStack entry's stdout each render these, so no caller reads a log line back.

/// Who holds a segment: a recorded user, by kind and libvirt name.
public struct Holder: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var kind: SegmentUser.Kind
    public var name: String

    public init(kind: SegmentUser.Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    init(_ user: SegmentUser, _ record: UserRecord) {
        self.init(kind: user.kind, name: record.name)
    }

    public static func < (lhs: Holder, rhs: Holder) -> Bool {
        (lhs.name, lhs.kind.rawValue) < (rhs.name, rhs.kind.rawValue)
    }

    /// "guest web1", "network vx5001", "vxlanctl ensure".
    public var description: String {
        switch kind {
        case .domain: "guest \(name.escapedForMessage)"
        case .network: "network \(name.escapedForMessage)"
        case .operator: "vxlanctl ensure"
        }
    }
}

/// Why a segment stays on the host.
public enum KeptReason: Hashable, Sendable, CustomStringConvertible {
    /// Users are still recorded on the VNI.
    case usedBy([Holder])
    /// A device of the segment was not created by libvirt-vxlan.
    case notOwned(String)
    /// The bridge carries ports besides our vxlan device.
    case portsRemain(bridge: String, ports: [String])

    public var description: String {
        switch self {
        case .usedBy(let holders): "kept, used by \(holders.map(\.name).joined(separator: ", "))"
        case .notOwned(let name): "\(name) was not created by libvirt-vxlan; left in place"
        case .portsRemain(let bridge, let ports): "kept, \(bridge) still has ports \(ports.joined(separator: ", "))"
        }
    }
}

extension KeptReason {
    /// Why the links keep a segment; nil when nothing is there to keep.
    init?(_ result: TeardownResult, bridge: InterfaceName) {
        switch result {
        case .notOwned(let name): self = .notOwned(name)
        case .inUse(let ports): self = .portsRemain(bridge: bridge.rawValue, ports: ports)
        case .absent: return nil
        }
    }
}

extension TeardownPlan {
    /// Why this plan keeps the segment; nil when it removes it or nothing is there.
    func keptReason(bridge: InterfaceName) -> KeptReason? {
        guard case .leave(let result) = self else { return nil }
        return KeptReason(result, bridge: bridge)
    }
}

/// One VNI a user joined.
public struct JoinOutcome: Hashable, Sendable {
    public var names: SegmentNames
    /// A pending teardown of the VNI was taken back before the segment was made.
    public var tookBackTeardown: Bool
    /// What making the segment changed; empty when it was complete already.
    public var changes: [SegmentChange]
    /// The segment is an operator's own matching bridge and vxlan device, used as is.
    public var borrowed: Bool
    public var mtu: Int
    /// The kind of bridge the segment has.
    public var bridgeKind: BridgeKind = .linux

    public var vni: VNI { names.vni }
}

/// What a leave decided for the segment.
public enum LeaveDecision: Hashable, Sendable {
    case kept(KeptReason)
    /// Marked for the reaper, which deletes these devices (`SegmentLifecycle.reap`).
    case teardownPending(SegmentRemoval)
    /// Deleted by the reaper this call ran inline.
    case removed(SegmentRemoval)
    /// Nothing of the segment is on the host.
    case absent
    /// Its teardown could not be decided or marked; the reason is in the journal.
    case failed(String)
}

extension LeaveDecision {
    public var isTeardownPending: Bool {
        if case .teardownPending = self { true } else { false }
    }
}

/// One VNI a user (or gc) left.
public struct LeaveOutcome: Hashable, Sendable {
    public var names: SegmentNames
    /// Guests forgotten because they vanished without `release`.
    public var forgotten: [Holder]
    /// Users dropped by `vxlanctl teardown --force`.
    public var dropped: [Holder]
    public var decision: LeaveDecision

    public var vni: VNI { names.vni }
}

/// What one reaper run did.
public struct ReapOutcome: Hashable, Sendable {
    /// Segments deleted, with what went.
    public var removed: [SegmentRemoval] = []
    /// Teardowns taken back or not wanted any more, and why.
    public var kept: [VNI: KeptReason] = [:]
    /// Teardowns left pending after a failure, and the failure.
    public var failed: [VNI: String] = [:]
    /// The VNIs whose teardown is still pending when the run ends (a failure).
    public var pending: [VNI] = []

    public init() {}

    /// Adds a later round's outcome: its verdict on a VNI replaces this one's.
    public mutating func merge(_ later: ReapOutcome) {
        for removal in later.removed {
            removed.removeAll { $0.vni == removal.vni }
            removed.append(removal)
        }
        kept.merge(later.kept) { _, new in new }
        failed.merge(later.failed) { _, new in new }
        for vni in later.removed.map(\.vni) + later.kept.keys { failed[vni] = nil }
        pending = later.pending
    }

    /// What happened to `vni`, if this run looked at it.
    public func removal(of vni: VNI) -> SegmentRemoval? { removed.first { $0.vni == vni } }
}

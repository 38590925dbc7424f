import Lifecycle
import VXLANCore

/// A host's links in memory: `ensure` makes an owned bridge and vxlan device (as
/// `SegmentConverger` would), the reaper stages links and deletes the reaping group, and
/// a test adds guest taps or foreign devices directly.
public final class FakeLinks: SegmentLinks {
    public private(set) var links: [String: Link] = [:]
    /// VNIs whose ensure fails, with the error to throw.
    public var failingEnsure: [VNI: ConvergeError] = [:]
    /// VNIs whose vxlan device the host changed under (its VTEP address is gone): ensure
    /// fails with `ownedDeviceDiffers` until `replaceStale` deletes the device.
    public var staleVXLANs: Set<VNI> = []
    /// Every status read, by VNI: the lifecycle reads a VNI's links at most once per call.
    public private(set) var statusReads: [VNI] = []
    /// What the reaper staged, and how many group deletions (kernel requests) it made.
    public private(set) var stagings: [SegmentRemoval] = []
    public private(set) var deletions = 0
    /// When set, the reaper's deletion fails with it (leaving the links staged, as a
    /// reaper killed before it would).
    public var failingDeletion: ConvergeError?
    private var nextIndex: Int32 = 10

    public init() {}

    public var names: [String] { links.keys.sorted() }

    /// A guest's tap on `bridge`, named and addressed the way libvirt does it (fe:...).
    public func plugTap(_ name: String, mac: String, into bridge: String) {
        let master = links[bridge]?.index ?? 0
        add(Link(index: 0, name: name, kind: "tun", master: master, address: "fe" + mac.dropFirst(2)))
    }

    /// Any link: an operator's bridge, a foreign port.
    public func add(_ link: Link) {
        var link = link
        link.index = nextIndex
        nextIndex += 1
        links[link.name] = link
    }

    /// A link deleted by hand (`ip link del NAME`).
    public func delete(_ name: String) {
        links[name] = nil
    }

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        if let error = failingEnsure[plan.vni] { throw error }
        if staleVXLANs.contains(plan.vni) { throw Self.staleDevice(plan) }
        var changes: [SegmentChange] = []
        let group = Ownership.interfaceGroup(for: plan.vni)
        if links[plan.names.bridge.rawValue] == nil {
            add(Link(index: 0, name: plan.names.bridge.rawValue, kind: "bridge", group: group))
            changes.append(.createdBridge(plan.names.bridge.rawValue))
        }
        let bridge = links[plan.names.bridge.rawValue]?.index ?? 0
        if links[plan.names.vxlan.rawValue] == nil {
            add(Link(index: 0, name: plan.names.vxlan.rawValue, kind: "vxlan", master: bridge, group: group))
            changes.append(Self.createdVXLAN(plan))
        }
        return EnsureResult(changes: changes, borrowed: false, mtu: Self.mtu)
    }

    /// The MTU of every segment this host makes.
    public static let mtu = 1450

    /// What `ensure` reports when it makes `plan`'s vxlan device.
    public static func createdVXLAN(_ plan: SegmentPlan) -> SegmentChange {
        .createdVXLAN(
            VXLANDeviceSpec(
                name: plan.names.vxlan, id: plan.vni.value, group: plan.group, local: plan.local, underlay: nil,
                dstport: plan.dstport, ttl: plan.ttl, learning: plan.learning, mtu: mtu),
            bridge: plan.names.bridge.rawValue)
    }

    public func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        statusReads.append(names.vni)
        let bridge = links[names.bridge.rawValue]
        let ports = bridge.map { bridge in
            links.values.filter { $0.master == bridge.index }.sorted { $0.index < $1.index }
        }
        return SegmentStatus(
            vni: names.vni, bridge: bridge, vxlan: links[names.vxlan.rawValue], ports: ports ?? [])
    }

    public func stage(_ removal: SegmentRemoval) throws(ConvergeError) {
        stagings.append(removal)
        for device in removal.devices { links[device.name]?.group = Ownership.reapingGroup }
    }

    public func unstage(_ devices: [Link], of vni: VNI) throws(ConvergeError) {
        for device in devices where links[device.name]?.isStaged == true {
            links[device.name]?.group = Ownership.interfaceGroup(for: vni)
        }
    }

    /// One request for the whole reaping group when only `devices` sit in it, else one
    /// per device; strangers stay.
    public func deleteStaged(_ devices: [Link]) throws(ConvergeError) -> [String] {
        if let failure = failingDeletion { throw failure }
        let expected = Set(devices.map(\.name))
        let strangers = links.values.filter { $0.isStaged && !expected.contains($0.name) }.map(\.name).sorted()
        deletions += strangers.isEmpty ? 1 : devices.count
        links = links.filter { !expected.contains($0.key) }
        return strangers
    }
}

/// Pending teardowns in memory; `wake` only counts (a test runs the reaper when it wants
/// to, as the real one runs later in another process), unless `inlineReaper` is set (as
/// vxlanctl reaps before returning).
public final class FakeTeardowns: TeardownQueue {
    public var pending: [VNI: SegmentNames] = [:]
    public private(set) var wakes = 0
    public var inlineReaper: (() -> ReapOutcome)?

    public init() {}

    public func mark(_ names: SegmentNames) throws(StateError) { pending[names.vni] = names }
    public func unmark(_ vni: VNI) throws(StateError) { pending[vni] = nil }
    public func isMarked(_ vni: VNI) -> Bool { pending[vni] != nil }
    public func marked() -> [SegmentNames] { pending.values.sorted { $0.vni < $1.vni } }
    public func wake() -> ReapOutcome? {
        wakes += 1
        return inlineReaper?()
    }
}

/// User records in memory, stamped with the time they were written (as a file's mtime).
public final class FakeUsers: UserStore {
    public var records: [VNI: [SegmentUser: UserRecord]] = [:]
    /// When set, every change fails with it (a full or read-only /run).
    public var failure: StateError?
    var now: () -> Int = { 0 }

    public init() {}

    public func users(of vni: VNI) throws(StateError) -> [SegmentUser: UserRecord] {
        records[vni] ?? [:]
    }

    public func record(of user: SegmentUser, on vni: VNI) -> UserRecord? {
        records[vni]?[user]
    }

    public func add(_ user: SegmentUser, _ record: UserRecord, on vni: VNI) throws(StateError) {
        if let failure { throw failure }
        var record = record
        record.since = now()
        records[vni, default: [:]][user] = record
    }

    @discardableResult
    public func remove(_ user: SegmentUser, from vni: VNI) throws(StateError) -> Bool {
        if let failure { throw failure }
        let removed = records[vni]?.removeValue(forKey: user) != nil
        if records[vni]?.isEmpty == true { records[vni] = nil }
        return removed
    }
}

/// Locks that record who took them, and fail if a VNI's lock is taken twice at once.
public final class FakeLocks: SegmentLocks {
    public private(set) var held: Set<VNI> = []
    public private(set) var taken: [VNI] = []

    public init() {}

    public func lock(_ vni: VNI) throws(StateError) -> any SegmentLock {
        guard held.insert(vni).inserted else {
            throw StateError(operation: "flock", path: "locks/\(vni)", reason: "already held by this call")
        }
        taken.append(vni)
        return Held(vni: vni, locks: self)
    }

    final class Held: SegmentLock {
        let vni: VNI
        let locks: FakeLocks

        init(vni: VNI, locks: FakeLocks) {
            self.vni = vni
            self.locks = locks
        }

        func release() { locks.held.remove(vni) }
    }
}

/// The journal's lines, kept for assertions.
public final class FakeLog: LifecycleLog {
    public private(set) var lines: [(level: LogLevel, message: String)] = []

    public init() {}

    public func log(_ level: LogLevel, _ message: String) {
        lines.append((level, message))
    }

    public func contains(_ level: LogLevel, _ text: String) -> Bool {
        lines.contains { $0.level == level && $0.message.contains(text) }
    }
}

/// A lifecycle wired to fakes, with a clock the test moves.
public final class FakeHost {
    public let links = FakeLinks()
    public let users = FakeUsers()
    public let locks = FakeLocks()
    public let teardowns = FakeTeardowns()
    public let log = FakeLog()
    public var now = 1_000_000
    public let config: Config

    public init(config: Config = FakeHost.defaultConfig) {
        self.config = config
        users.now = { [unowned self] in now }
    }

    /// Multicast over `ul0`, CloudStack names.
    public static var defaultConfig: Config {
        var config = Config()
        config.underlay = try? InterfaceName("ul0")
        return config
    }

    public var lifecycle: SegmentLifecycle {
        SegmentLifecycle(
            links: links, users: users, locks: locks, teardowns: teardowns, journal: log, staleAfter: 300,
            now: { [unowned self] in now })
    }
}

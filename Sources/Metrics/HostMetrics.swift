import Glibc
import HookRuntime
import HostNetwork
import Lifecycle
import VXLANCore

/// What an operator graphs, read at the moment it is asked for: the segments in use and
/// their state (the watcher's own drift rule), users, device counters and fdb remotes
/// over netlink (two dumps), pending teardowns, the IGMP limit, and the counters the hook,
/// the reaper and the watcher keep (`CounterFile`). `vxlanctl metrics` prints it once;
/// the watcher serves it on `/metrics` and writes node_exporter's textfile.
public struct HostMetrics {
    let host: SegmentHost
    let repair: SegmentRepair
    /// The last periodic peer check, when the watcher runs one.
    public var peers: PeerCheckObservation?

    /// `configured`: the configuration's plan of a VNI whose plan was never recorded (as
    /// the watcher's repair).
    public init(host: SegmentHost, configured: @escaping (VNI) -> SegmentPlan?) {
        self.host = host
        repair = host.repair(configured: configured)
    }

    /// The exposition (Prometheus text format 0.0.4).
    public func exposition() throws(KernelError) -> String {
        let counters = CounterFile.read(in: host.state)
        return renderMetrics(try observe().families + CounterLayout.families(counters))
    }

    public func observe() throws(KernelError) -> HostObservation {
        let dumped = try host.network.linksWithCounters()
        let network = host.network
        var table = LinkTable(dumped.map(\.link)) { (link, family) throws(KernelError) in
            try network.addresses(of: link, family: family)
        }
        let counters = Dictionary(dumped.map { ($0.link.name, $0.counters) }) { first, _ in first }
        let remotes = try network.remoteDestinationsByLink()
        var segments: [SegmentObservation] = []
        for vni in host.users.recordedVNIs() {
            guard let recorded = try? host.users.users(of: vni), !recorded.isEmpty,
                let plan = repair.plan(of: vni, users: recorded)
            else { continue }
            let isComplete = SegmentConverger.drift(of: plan, in: &table) == nil
            let bridge = table.link(named: plan.names.bridge)
            let vxlan = table.link(named: plan.names.vxlan)
            segments.append(
                SegmentObservation(
                    vni: vni, mode: plan.mode, bridgeKind: Self.bridgeKind(bridge), isComplete: isComplete,
                    users: recorded.count, vxlan: vxlan.flatMap { counters[$0.name] },
                    bridge: bridge.flatMap { counters[$0.name] },
                    remoteVTEPs: vxlan.map { Set(remotes[$0.index] ?? []).count } ?? 0))
        }
        let multicast = dumped.filter { $0.link.vxlan?.group?.isMulticast == true }.count
        return HostObservation(
            segments: segments, pendingTeardowns: host.state.pendingTeardowns().count, multicastDevices: multicast,
            igmpMaxMemberships: Self.igmpMaxMemberships(), peers: peers)
    }

    /// "linux" for a Linux bridge (or none yet); else the device's kind ("openvswitch").
    static func bridgeKind(_ bridge: Link?) -> String {
        guard let kind = bridge?.kind, kind != "bridge" else { return "linux" }
        return kind
    }

    /// `net.ipv4.igmp_max_memberships` of this process's network namespace (procfs shows
    /// the reader's), nil when unreadable.
    static func igmpMaxMemberships() -> Int? {
        guard let bytes = try? readFile(at: "/proc/sys/net/ipv4/igmp_max_memberships", limit: 64) else { return nil }
        return Int(String(decoding: bytes.prefix { $0 != 0x0A }, as: UTF8.self))
    }
}

/// node_exporter's textfile collector: Debian's prometheus-node-exporter reads
/// `/var/lib/prometheus/node-exporter/*.prom` at every scrape.
public enum MetricsTextfile {
    public static let defaultFolder = "/var/lib/prometheus/node-exporter"
    public static let fileName = "libvirt_vxlan.prom"

    /// Writes `text` to `path` atomically: a temporary file in the same folder, then a
    /// rename, so node_exporter never reads half a file. Mode 0644: node_exporter runs as
    /// its own user. The temporary name does not end in `.prom`, which node_exporter
    /// would read.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String

        init(_ operation: String, _ path: String, errno code: Int32 = errno) {
            description = "cannot \(operation) \(path): \(String(cString: strerror(code)))"
        }
    }

    public static func write(_ text: String, to path: String) throws(Failure) {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw Failure("open", temporary) }
        _ = fchmod(descriptor, 0o644)
        var complete = true
        var text = text
        text.withUTF8 { bytes in
            var rest = UnsafeRawBufferPointer(bytes)
            while let start = rest.baseAddress, !rest.isEmpty {
                let written = Glibc.write(descriptor, start, rest.count)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else {
                    complete = false
                    return
                }
                rest = UnsafeRawBufferPointer(rebasing: rest[written...])
            }
        }
        let code = errno
        close(descriptor)
        guard complete else {
            unlink(temporary)
            throw Failure("write", temporary, errno: code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw Failure("rename", path, errno: code)
        }
    }
}

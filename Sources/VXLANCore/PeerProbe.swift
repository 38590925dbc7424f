/// `vxlanctl check --peers`: whether the underlay carries full-size VXLAN packets to each
/// other VTEP. Two ICMP echo requests per peer with the don't-fragment bit set, one as
/// large as a VXLAN packet carrying a full guest frame, one small, then a verdict per peer.
/// Everything here is pure: the sockets are in the `PathProbe` module.
public enum PeerProbe {
    /// The data of the small probe, as much as a default `ping` sends (an 84-byte IPv4 packet).
    public static let smallDataSize = 56

    /// The outer IP packet a full guest frame becomes: the segment MTU plus the VXLAN
    /// overhead of the underlay's family (the arithmetic of `MTUPolicy`).
    public static func fullSize(segmentMTU: Int, family: IPAddress.Family) -> Int {
        segmentMTU + MTUPolicy.overhead(for: family)
    }

    /// The segment MTU guests get over an underlay of `underlayMTU` (nil: none resolved;
    /// a vxlan device without a lower device gets the kernel's 1500 - overhead).
    public static func segmentMTU(policy: MTUPolicy, underlayMTU: Int?, family: IPAddress.Family) -> Int {
        policy.mtu(underlayMTU: underlayMTU, family: family) ?? 1500 - MTUPolicy.overhead(for: family)
    }

    /// The VTEPs to probe: the configured `remotes`, the remote VTEPs in the fdb of our
    /// vxlan devices (multicast learning, EVPN routes), and the addresses given, each once
    /// in that order; never one of this host's own addresses or a multicast group.
    public static func peers(
        remotes: [IPAddress], forwarding: [IPAddress], given: [IPAddress], local: Set<IPAddress>
    ) -> [IPAddress] {
        var seen = Set<IPAddress>()
        return (remotes + forwarding + given).filter {
            !$0.isMulticast && !local.contains($0) && seen.insert($0).inserted
        }
    }
}

/// Which of a peer's two probes a packet or an error belongs to.
public enum ProbeKind: Int, Sendable, CaseIterable {
    /// Tells a reachable peer from an unreachable one.
    case small = 0
    /// As large as VXLAN with a full guest frame, don't-fragment set.
    case full = 1
}

/// What the network said about one probe.
public enum ProbeEvent: Equatable, Sendable {
    /// An echo reply came back.
    case answered(ProbeKind)
    /// An ICMP fragmentation-needed / packet-too-big (`reporter`: the router that sent
    /// it), or this host's own route or device refused the size (`reporter` nil).
    case tooBig(mtu: Int, reporter: IPAddress?)
    /// An ICMP unreachable or time exceeded, or the send failed: the reason, one line.
    case unreachable(String)
}

/// An MTU some report gave for a path, and who reported it (nil: this host).
public struct ReportedMTU: Equatable, Sendable {
    public var mtu: Int
    public var reporter: IPAddress?
}

/// Everything seen for one peer so far.
public struct PeerObservation: Equatable, Sendable {
    public private(set) var answered: Set<ProbeKind> = []
    /// The smallest MTU any report gave.
    public private(set) var pathMTU: ReportedMTU?
    public private(set) var unreachable: String?

    public init() {}

    public mutating func record(_ event: ProbeEvent) {
        switch event {
        case .answered(let kind): answered.insert(kind)
        case .tooBig(let mtu, let reporter):
            if mtu < pathMTU?.mtu ?? .max { pathMTU = ReportedMTU(mtu: mtu, reporter: reporter) }
        case .unreachable(let reason): unreachable = unreachable ?? reason
        }
    }

    /// Nothing more to learn: the full-size probe was answered; or the small one was and
    /// an error said why the full-size one cannot be; or the peer is unreachable. Silence
    /// (a black hole, a peer that is down) settles only at the deadline.
    public var isSettled: Bool {
        answered.contains(.full) || (answered.contains(.small) && pathMTU != nil) || unreachable != nil
    }

    /// The probes still worth sending: neither answered, nor refused for its size.
    public var pending: [ProbeKind] {
        ProbeKind.allCases.filter { !answered.contains($0) && !($0 == .full && pathMTU != nil) }
    }
}

/// The verdict on one peer's path.
public enum PeerVerdict: Equatable, Sendable {
    case pass
    /// An ICMP error (or this host's own device) said the path carries at most `mtu`.
    case pathCarries(mtu: Int, reporter: IPAddress?)
    /// The small probe came back, the full-size one vanished without an error.
    case blackHole
    /// Not even the small probe came back (the reason if an error gave one). This comes
    /// first: the path's MTU matters once the peer answers at all.
    case unreachable(String?)

    /// What `observation` means for a probe of `fullSize` bytes.
    public init(_ observation: PeerObservation, fullSize: Int) {
        if observation.answered.contains(.full) {
            self = .pass
        } else if !observation.answered.contains(.small) {
            self = .unreachable(observation.unreachable)
        } else if let path = observation.pathMTU, path.mtu < fullSize {
            self = .pathCarries(mtu: path.mtu, reporter: path.reporter)
        } else {
            self = .blackHole
        }
    }
}

/// When probes go out: every `interval` until `lastSend`, answers awaited until `deadline`
/// (seconds after the first send). Retries cover a lost packet and the first probe of a
/// peer whose neighbour entry is not resolved yet; the deadline bounds the whole check
/// however many peers there are, since all are probed at once.
public struct ProbeTimetable: Equatable, Sendable {
    public var interval: Double
    public var lastSend: Double
    public var deadline: Double

    public static let standard = ProbeTimetable(interval: 0.5, lastSend: 1.5, deadline: 2.5)

    public init(interval: Double, lastSend: Double, deadline: Double) {
        self.interval = interval
        self.lastSend = lastSend
        self.deadline = deadline
    }

    /// The moments probes go out, the first at 0.
    public var sendTimes: [Double] { Array(stride(from: 0, through: lastSend, by: interval)) }
}

/// One `check` line per peer: the verdict in words, and the fix.
public struct PeerReport: Sendable {
    public var peer: IPAddress
    public var segmentMTU: Int
    /// The configuration file named in the fix.
    public var configPath: String

    public init(peer: IPAddress, segmentMTU: Int, configPath: String) {
        self.peer = peer
        self.segmentMTU = segmentMTU
        self.configPath = configPath
    }

    public var fullSize: Int { PeerProbe.fullSize(segmentMTU: segmentMTU, family: peer.family) }

    private var overhead: Int { MTUPolicy.overhead(for: peer.family) }

    public func result(_ verdict: PeerVerdict) -> PreflightResult {
        let raise = "raise the MTU of every link on the path to \(peer) to \(fullSize)"
        switch verdict {
        case .pass:
            return PreflightResult(
                "peer", .pass,
                "\(peer): \(fullSize)-byte packets pass unfragmented (segment MTU \(segmentMTU) + \(overhead))")
        case .pathCarries(let mtu, let reporter):
            let source = reporter.map { "ICMP from \($0)" } ?? "the MTU of this host's interface"
            return PreflightResult(
                "peer", .fail,
                "the path to \(peer) carries at most \(mtu) bytes (\(source)); VXLAN with segment MTU \(segmentMTU) needs \(fullSize)",
                fix: "lower mtu in \(configPath) to \(mtu - overhead) (mtu = \(mtu - overhead)), or \(raise)")
        case .blackHole:
            return PreflightResult(
                "peer", .fail,
                "full-size packets to \(peer) are lost without an ICMP error (black hole): \(fullSize) bytes with don't-fragment vanish, small ones pass",
                fix:
                    "\(raise), or lower mtu in \(configPath) to what it carries less \(overhead) (a 1500-byte path: mtu = \(1500 - overhead)); "
                    + "routers and firewalls on the path must pass ICMP \(peer.family == .ipv4 ? "fragmentation-needed" : "packet-too-big")"
            )
        case .unreachable(let reason):
            return PreflightResult(
                "peer", .fail, "\(peer) is unreachable: \(reason ?? "no answer to ICMP echo")",
                fix: "check the underlay route (ip route get \(peer)) and that \(peer) is up and answers ICMP echo")
        }
    }
}

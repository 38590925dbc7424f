import VXLANCore

/// The host's segments as metric families: what `vxlanctl metrics` and the watcher's
/// `/metrics` print beside the counters (`CounterLayout`). Pure: the observations are
/// gathered over netlink and from /run by `HostMetrics` (HookRuntime).
public struct HostObservation: Sendable {
    /// Every segment in use (users recorded), by ascending VNI.
    public var segments: [SegmentObservation]
    /// Teardowns marked and not yet done.
    public var pendingTeardowns: Int
    /// Multicast vxlan devices on the host (each holds one IGMP membership), and
    /// `net.ipv4.igmp_max_memberships`; nil when unread.
    public var multicastDevices: Int?
    public var igmpMaxMemberships: Int?
    /// The last periodic `check --peers`, if the watcher runs it.
    public var peers: PeerCheckObservation?

    public init(
        segments: [SegmentObservation] = [], pendingTeardowns: Int = 0, multicastDevices: Int? = nil,
        igmpMaxMemberships: Int? = nil, peers: PeerCheckObservation? = nil
    ) {
        self.segments = segments
        self.pendingTeardowns = pendingTeardowns
        self.multicastDevices = multicastDevices
        self.igmpMaxMemberships = igmpMaxMemberships
        self.peers = peers
    }
}

/// One segment in use.
public struct SegmentObservation: Sendable {
    public var vni: VNI
    public var mode: UnderlayMode
    /// "linux" for a Linux bridge; the bridge device's kind otherwise ("openvswitch").
    public var bridgeKind: String
    /// Matches its plan (nil drift), or partial: a device missing, down, detached or
    /// different, or its underlay missing.
    public var isComplete: Bool
    public var users: Int
    public var vxlan: LinkCounters?
    public var bridge: LinkCounters?
    /// Distinct remote VTEPs in the vxlan device's fdb.
    public var remoteVTEPs: Int

    public init(
        vni: VNI, mode: UnderlayMode, bridgeKind: String, isComplete: Bool, users: Int, vxlan: LinkCounters?,
        bridge: LinkCounters?, remoteVTEPs: Int
    ) {
        self.vni = vni
        self.mode = mode
        self.bridgeKind = bridgeKind
        self.isComplete = isComplete
        self.users = users
        self.vxlan = vxlan
        self.bridge = bridge
        self.remoteVTEPs = remoteVTEPs
    }
}

/// The last periodic peer check: when, and each peer's verdict.
public struct PeerCheckObservation: Sendable {
    /// Unix time of the check.
    public var time: Int
    public var verdicts: [(peer: IPAddress, verdict: PeerVerdict)]

    public init(time: Int, verdicts: [(peer: IPAddress, verdict: PeerVerdict)]) {
        self.time = time
        self.verdicts = verdicts
    }
}

extension PeerVerdict {
    /// The metrics' `verdict` label.
    public var label: String {
        switch self {
        case .pass: "pass"
        case .pathCarries: "too_small"
        case .blackHole: "black_hole"
        case .unreachable: "unreachable"
        }
    }

    public static let labels = ["pass", "too_small", "black_hole", "unreachable"]
}

extension HostObservation {
    public var families: [MetricFamily] {
        var byState = MetricFamily(
            "libvirt_vxlan_segments", .gauge,
            help: "Segments on this host by state: in use and matching their plan (complete), in use and not "
                + "(partial), or torn down soon (teardown_pending).")
        let complete = segments.filter(\.isComplete).count
        byState.samples = [
            MetricSample(Double(complete), labels: [("state", "complete")]),
            MetricSample(Double(segments.count - complete), labels: [("state", "partial")]),
            MetricSample(Double(pendingTeardowns), labels: [("state", "teardown_pending")]),
        ]
        var up = MetricFamily(
            "libvirt_vxlan_segment_complete", .gauge,
            help: "1 when the segment in use matches its plan (bridge and vxlan device present, up, attached, "
                + "as configured), 0 while it is partial.")
        var users = MetricFamily(
            "libvirt_vxlan_segment_users", .gauge,
            help: "Users recorded on the segment: guests, and libvirt networks of ours.")
        var remotes = MetricFamily(
            "libvirt_vxlan_segment_remote_vteps", .gauge,
            help: "Distinct remote VTEPs in the fdb of the segment's vxlan device (static, learned or from EVPN).")
        var traffic = LinkCounterFamilies()
        for segment in segments {
            let labels = [
                ("vni", segment.vni.description), ("mode", segment.mode.rawValue), ("bridge_kind", segment.bridgeKind),
            ]
            up.samples.append(MetricSample(segment.isComplete ? 1 : 0, labels: labels))
            users.samples.append(MetricSample(Double(segment.users), labels: labels))
            remotes.samples.append(MetricSample(Double(segment.remoteVTEPs), labels: [labels[0]]))
            if let vxlan = segment.vxlan { traffic.add(vxlan, labels: [labels[0], ("device", "vxlan")]) }
            if let bridge = segment.bridge { traffic.add(bridge, labels: [labels[0], ("device", "bridge")]) }
        }
        var families = [byState, up, users, remotes] + traffic.families
        if let multicastDevices {
            families.append(
                MetricFamily(
                    "libvirt_vxlan_multicast_memberships", .gauge,
                    help: "Multicast vxlan devices on this host, one IGMP membership each "
                        + "(limited by net.ipv4.igmp_max_memberships).",
                    value: Double(multicastDevices)))
        }
        if let igmpMaxMemberships {
            families.append(
                MetricFamily(
                    "libvirt_vxlan_igmp_max_memberships", .gauge,
                    help: "net.ipv4.igmp_max_memberships: past it, the next multicast vxlan device fails (ENOBUFS).",
                    value: Double(igmpMaxMemberships)))
        }
        if let peers {
            var verdicts = MetricFamily(
                "libvirt_vxlan_peer_path", .gauge,
                help: "Last verdict of the watcher's periodic check --peers on the path to each other VTEP: 1 for "
                    + "the verdict found (pass, too_small, black_hole, unreachable), 0 for the others.")
            for (peer, verdict) in peers.verdicts {
                for label in PeerVerdict.labels {
                    verdicts.samples.append(
                        MetricSample(
                            label == verdict.label ? 1 : 0, labels: [("peer", peer.description), ("verdict", label)]))
                }
            }
            families += [
                verdicts,
                MetricFamily(
                    "libvirt_vxlan_peer_check_timestamp_seconds", .gauge,
                    help: "Unix time of the watcher's last periodic check --peers.", value: Double(peers.time)),
            ]
        }
        return families
    }
}

/// The eight IFLA_STATS64 counters as families, one sample per segment device.
private struct LinkCounterFamilies {
    /// In the order of `values(of:)`.
    private static let fields: [(String, String)] = [
        ("receive_packets", "Packets received"), ("receive_bytes", "Bytes received"),
        ("receive_drops", "Received packets dropped"), ("receive_errors", "Receive errors"),
        ("transmit_packets", "Packets transmitted"), ("transmit_bytes", "Bytes transmitted"),
        ("transmit_drops", "Packets dropped on transmit"), ("transmit_errors", "Transmit errors"),
    ]

    private static func values(of counters: LinkCounters) -> [UInt64] {
        [
            counters.receivedPackets, counters.receivedBytes, counters.receiveDrops, counters.receiveErrors,
            counters.transmittedPackets, counters.transmittedBytes, counters.transmitDrops, counters.transmitErrors,
        ]
    }

    var families: [MetricFamily] = fields.map { name, help in
        MetricFamily(
            "libvirt_vxlan_segment_\(name)_total", .counter,
            help: "\(help) by the segment's vxlan device or bridge (the kernel's IFLA_STATS64, since the device "
                + "was made).")
    }

    mutating func add(_ counters: LinkCounters, labels: [(String, String)]) {
        for (position, value) in Self.values(of: counters).enumerated() {
            families[position].samples.append(MetricSample(Double(value), labels: labels))
        }
    }
}

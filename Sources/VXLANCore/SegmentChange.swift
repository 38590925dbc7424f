/// One change ensure, repair or teardown made to a segment, as a value; its description
/// is the journal's and the CLI's line, in iproute2 words: "created bridge brvx-5001".
public enum SegmentChange: Hashable, Sendable, CustomStringConvertible {
    /// `ip link add NAME type bridge`
    case createdBridge(String)
    /// `ip link set dev NAME addrgenmode none` on a bridge of ours that had it on: the
    /// host no longer has a link-local address on the segment.
    case hidHost(bridge: String)
    /// `ip link set dev NAME up mtu M` on a bridge of ours.
    case repairedBridge(String, mtu: Int)
    /// `ip link add NAME master BRIDGE up type vxlan SETTINGS`
    case createdVXLAN(VXLANDeviceSpec, bridge: String)
    /// `ip link set dev NAME up master BRIDGE mtu M` on a vxlan device of ours.
    case repairedVXLAN(String, bridge: String, mtu: Int)
    /// `bridge fdb append 00:00:00:00:00:00 dev DEVICE dst REMOTE`
    case addedForwarding(IPAddress, device: String)
    /// `bridge fdb del 00:00:00:00:00:00 dev DEVICE dst REMOTE`
    case removedForwarding(IPAddress, device: String)
    /// `ip link del dev NAME` of a bridge of ours.
    case deletedBridge(String)
    /// `ip link del dev NAME` of a vxlan device of ours; `stale` says how it differed from
    /// its plan when it was deleted to be made again (empty in a teardown).
    case deletedVXLAN(String, stale: [String] = [])
    /// `ovs-vsctl add-br NAME -- set Bridge NAME datapath_type=T external_ids:...`
    case createdOpenvSwitchBridge(String, datapath: String)
    /// `ovs-vsctl add-port BRIDGE PORT -- set Port PORT external_ids:...`
    case addedOpenvSwitchPort(String, bridge: String)
    /// `ovs-vsctl set Bridge|Interface NAME SETTING` on a bridge of ours.
    case setOpenvSwitchBridge(String, setting: String)
    /// `ovs-vsctl del-br NAME` of a bridge of ours.
    case deletedOpenvSwitchBridge(String)

    public var description: String {
        switch self {
        case .createdBridge(let name): "created bridge \(name)"
        case .hidHost(let bridge): "set addrgenmode none on \(bridge)"
        case .repairedBridge(let name, let mtu): "repaired bridge \(name) (up, mtu \(mtu))"
        case .createdVXLAN(let spec, let bridge): "created \(spec.name) (\(spec.settings)) in \(bridge)"
        case .repairedVXLAN(let name, let bridge, let mtu): "repaired \(name) (up, port of \(bridge), mtu \(mtu))"
        case .addedForwarding(let remote, let device): "added fdb 00:00:00:00:00:00 dst \(remote) on \(device)"
        case .removedForwarding(let remote, let device): "removed fdb 00:00:00:00:00:00 dst \(remote) from \(device)"
        case .deletedBridge(let name): "deleted bridge \(name)"
        case .deletedVXLAN(let name, let stale):
            stale.isEmpty ? "deleted \(name)" : "deleted \(name) (\(stale.joined(separator: ", ")))"
        case .createdOpenvSwitchBridge(let name, let datapath):
            "created Open vSwitch bridge \(name) (datapath \(datapath))"
        case .addedOpenvSwitchPort(let port, let bridge): "added port \(port) to \(bridge)"
        case .setOpenvSwitchBridge(let name, let setting): "set \(setting) on \(name)"
        case .deletedOpenvSwitchBridge(let name): "deleted Open vSwitch bridge \(name)"
        }
    }
}

/// What an ensure did to a segment, and what it found.
public struct EnsureResult: Hashable, Sendable {
    public var changes: [SegmentChange]
    /// The segment is an operator's own bridge and vxlan device that already match
    /// the plan: used as is, never modified, never torn down.
    public var borrowed: Bool
    public var mtu: Int
    /// The kind of bridge the segment has (what a plan that adopts the existing kind got).
    public var bridgeKind: BridgeKind

    public init(changes: [SegmentChange], borrowed: Bool, mtu: Int, bridgeKind: BridgeKind = .linux) {
        self.changes = changes
        self.borrowed = borrowed
        self.mtu = mtu
        self.bridgeKind = bridgeKind
    }
}

/// How broadcast, unknown-unicast and multicast frames reach the other VTEPs.
public enum UnderlayMode: String, Sendable, CaseIterable, DescribedByRawValue {
    /// One IP multicast group per VNI; the kernel joins it on the underlay device.
    case multicast
    /// Head-end replication to a static list of remote VTEPs (all-zero fdb entries).
    case unicast
    /// Control plane in BGP EVPN (FRR); the device only sends from `local`, learns nothing.
    case evpn
}

/// Which multicast group carries a VNI's BUM traffic.
public enum MulticastGroupPolicy: Hashable, Sendable, CustomStringConvertible {
    /// CloudStack's `modifyvxlan.sh`: `239.{(vni>>16)%256}.{(vni>>8)%256}.{vni%256}`, so
    /// one of our hosts and a CloudStack KVM host on the same VNI share a group.
    case cloudstack
    /// The VNI's low bits as an offset into an operator-chosen multicast network;
    /// VNIs that differ only above the host bits share a group (harmless, just more flooding).
    case network(IPNetwork)

    public func group(for vni: VNI) -> IPAddress {
        switch self {
        case .cloudstack: .v4(0xEF00_0000 | vni.value)
        case .network(let network): network.address(at: vni.value)
        }
    }

    public var description: String {
        switch self {
        case .cloudstack: "cloudstack"
        case .network(let network): network.description
        }
    }
}

/// The MTU of the VXLAN bridge and device.
public enum MTUPolicy: Hashable, Sendable, CustomStringConvertible {
    /// Underlay MTU minus the encapsulation: 50 bytes over IPv4, 70 over IPv6.
    case auto
    case fixed(Int)

    public static let validRange = 68...65_535

    /// Outer Ethernet is not counted in an MTU; inner Ethernet 14 + VXLAN 8 + UDP 8 +
    /// outer IP 20 (IPv4) or 40 (IPv6).
    public static func overhead(for family: IPAddress.Family) -> Int {
        family == .ipv4 ? 50 : 70
    }

    /// The segment MTU for an underlay of `underlayMTU`, or nil when the policy is
    /// `auto` and no underlay is known (the kernel then picks 1450 itself).
    public func mtu(underlayMTU: Int?, family: IPAddress.Family) -> Int? {
        switch self {
        case .fixed(let value): value
        case .auto: underlayMTU.map { $0 - Self.overhead(for: family) }
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let value): String(value)
        }
    }
}

/// What `prepare begin` does with a guest NIC that would keep a larger MTU than its
/// segment carries (no `<mtu>`, or a larger one, on a segment below 1500 bytes).
public enum GuestMTUPolicy: String, Sendable, CaseIterable, DescribedByRawValue {
    /// Start the guest; a warning in the journal names the NIC and the `<mtu>` to add.
    case warn
    /// Refuse the start with one line that names the NIC and the `<mtu>` to add.
    case refuse
}

/// What a segment's bridge is: the kernel's bridge, or an Open vSwitch bridge with our
/// kernel vxlan device as its port. Either way the vxlan device is the same, so Linux-bridge
/// hosts, Open vSwitch hosts and CloudStack's own hosts share a VNI.
public enum BridgeKind: String, Sendable, CaseIterable, DescribedByRawValue {
    /// `ip link add brvx-N type bridge`; guests' NICs without a `<virtualport>`.
    case linux
    /// `ovs-vsctl add-br brvx-N`; guests' NICs with `<virtualport type='openvswitch'/>`,
    /// which libvirt plugs with `ovs-vsctl add-port`.
    case openvswitch

    /// How an operator and libvirt's error messages name it.
    public var label: String { self == .linux ? "a Linux bridge" : "an Open vSwitch bridge" }
}

/// Which Open vSwitch datapath an OVS segment's bridge uses (`Bridge.datapath_type`).
public enum OVSDatapathType: String, Sendable, CaseIterable, DescribedByRawValue {
    /// The kernel's openvswitch module: the default of ovs-vswitchd.
    case system
    /// The userspace datapath (DPDK hosts; hosts or tests without the kernel module).
    case netdev
}

/// `[openvswitch]` in vxlan.conf: how OVS segments are made.
public struct OpenvSwitchSettings: Hashable, Sendable {
    public var datapathType: OVSDatapathType = .system
    /// The most a call to ovsdb-server (and the wait for ovs-vswitchd to apply a change)
    /// may take, in milliseconds: libvirt's own `ovs-vsctl --timeout=5`.
    public var timeoutMilliseconds = 5000

    public init() {}
}

/// The operator's configuration, `/etc/libvirt-vxlan/vxlan.conf`. Every field has the
/// default a missing file gets.
public struct Config: Hashable, Sendable {
    public static let defaultPath = "/etc/libvirt-vxlan/vxlan.conf"

    /// The device carrying VXLAN (CloudStack's "traffic label"): a NIC, or a bridge.
    public var underlay: InterfaceName?
    /// The VTEP source address; nil means the underlay's first address of the family.
    public var local: IPAddress?
    public var mode: UnderlayMode = .multicast
    /// 8472 is the Linux default, which CloudStack and NetworkManager use; 4789 is IANA's.
    public var dstport: UInt16 = 8472
    public var ttl: UInt8 = 10
    public var mtu: MTUPolicy = .auto
    public var vniRanges: [VNIRange] = [VNIRange(VNI.minimum...VNI.maximum)]
    public var remotes: [IPAddress] = []
    public var groupPolicy: MulticastGroupPolicy = .cloudstack
    public var guestMTU: GuestMTUPolicy = .warn
    /// The bridge kind of segments no guest NIC or network asks a kind for: `vxlanctl
    /// ensure`, the CloudStack entry, and networks without a `<virtualport>`.
    public var bridgeType: BridgeKind = .linux
    public var openvswitch = OpenvSwitchSettings()
    public var names = Names()
    public var metrics = MetricsSettings()

    public struct Names: Hashable, Sendable {
        public var bridge: NameTemplate = .defaultBridge
        public var vxlan: NameTemplate = .defaultVXLAN
        public var network: NameTemplate = .defaultNetwork
        public init() {}
    }

    public init() {}

    /// The address family of the underlay: that of `local`, else of the remotes, else
    /// of the group network, else IPv4.
    public var family: IPAddress.Family {
        if let local { return local.family }
        if let remote = remotes.first { return remote.family }
        if case .network(let network) = groupPolicy { return network.address.family }
        return .ipv4
    }

    public func accepts(_ vni: VNI) -> Bool { vniRanges.contains { $0.contains(vni) } }
}

extension VNI {
    public static let minimum = VNI(unchecked: range.lowerBound)
    public static let maximum = VNI(unchecked: range.upperBound)
}

extension NameTemplate {
    public static let defaultBridge = NameTemplate(prefix: "brvx-", suffix: "")
    public static let defaultVXLAN = NameTemplate(prefix: "vxlan", suffix: "")
    public static let defaultNetwork = NameTemplate(prefix: "vxlan-", suffix: "")
}

/// `[metrics]` in vxlan.conf: how `vxlanctl watch` hands out its metrics (its options
/// override these). The hook reads none of it.
public struct MetricsSettings: Hashable, Sendable {
    /// `listen`: where `/metrics` is served over HTTP; nil ("off", the default): nowhere.
    public var listen: ListenAddress?
    /// `textfile`: node_exporter's textfile.
    public var textfile: Textfile = .auto
    /// `textfile_interval`: seconds between two writes of the textfile.
    public var textfileInterval = 15
    /// `peer_check_interval`: seconds between two `check --peers` by the watcher; 0 (the
    /// default): none.
    public var peerCheckInterval = 0

    public enum Textfile: Hashable, Sendable {
        /// `/var/lib/prometheus/node-exporter/libvirt_vxlan.prom` when that folder exists
        /// (Debian's prometheus-node-exporter is installed), else none.
        case auto
        case off
        case path(String)
    }

    public init() {}
}

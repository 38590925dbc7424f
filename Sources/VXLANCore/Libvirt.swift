/// What the hook and vxlanctl need to know of libvirt's XML, as plain values. The
/// LibvirtXML module fills these from libxml2; everything here is pure.

/// The XML namespace of our metadata inside a libvirt `<network>`.
public let metadataNamespace = "urn:x-libvirt-vxlan:1.0"

/// One `<interface>` of a domain, as far as VXLAN is concerned.
public struct GuestInterface: Hashable, Sendable {
    public enum Source: Hashable, Sendable {
        /// `<interface type='bridge'><source bridge='NAME'/>`
        case bridge(String)
        /// `<interface type='network'><source network='NAME'/>`
        case network(String)
    }

    public var source: Source
    /// `<mac address='...'/>`, when libvirt has filled it in.
    public var mac: String?
    /// `<mtu size='...'/>`, when the guest asks for one.
    public var mtu: Int?
    /// `<virtualport type='...'/>`: "openvswitch" makes libvirt plug the NIC with
    /// `ovs-vsctl add-port` instead of the Linux bridge API.
    public var virtualPort: String?

    public init(source: Source, mac: String? = nil, mtu: Int? = nil, virtualPort: String? = nil) {
        self.source = source
        self.mac = mac
        self.mtu = mtu
        self.virtualPort = virtualPort
    }

    /// The bridge kind this NIC needs, as libvirt 9.0 plugs it (`virNetDevTapAttachBridge`:
    /// `ovs-vsctl add-port` for a virtualport of type openvswitch, else the Linux bridge
    /// API, whatever the bridge is). A NIC on a libvirt network without a virtualport of
    /// its own takes its network's (nil: the network decides).
    public var bridgeKind: BridgeKind? {
        if virtualPort == "openvswitch" { return .openvswitch }
        if case .bridge = source { return .linux }
        return nil
    }
}

/// A libvirt `<domain>`: who it is and which interfaces it has (of type bridge or network).
public struct DomainDescription: Hashable, Sendable {
    public var name: String
    /// libvirt always writes one, but its own test domains may lack it: only a domain
    /// with VXLAN interfaces needs it (it names the domain's user records).
    public var uuid: String?
    public var interfaces: [GuestInterface]

    public init(name: String, uuid: String?, interfaces: [GuestInterface]) {
        self.name = name
        self.uuid = uuid
        self.interfaces = interfaces
    }
}

/// Per-network settings from `<metadata><vx:vxlan xmlns:vx='urn:x-libvirt-vxlan:1.0' .../>`,
/// each overriding the configuration for that one network. Attributes left out are nil.
public struct SegmentOverrides: Hashable, Sendable {
    public var vni: VNI?
    public var mode: UnderlayMode?
    public var group: IPAddress?
    public var remotes: [IPAddress]?
    public var dstport: UInt16?
    public var ttl: UInt8?
    public var underlay: InterfaceName?
    public var local: IPAddress?
    /// The segment MTU for this network. libvirt refuses `<mtu>` on a network in
    /// `forward mode='bridge'`, so it travels here.
    public var mtu: Int?

    public init(
        vni: VNI? = nil, mode: UnderlayMode? = nil, group: IPAddress? = nil, remotes: [IPAddress]? = nil,
        dstport: UInt16? = nil, ttl: UInt8? = nil, underlay: InterfaceName? = nil, local: IPAddress? = nil,
        mtu: Int? = nil
    ) {
        self.vni = vni
        self.mode = mode
        self.group = group
        self.remotes = remotes
        self.dstport = dstport
        self.ttl = ttl
        self.underlay = underlay
        self.local = local
        self.mtu = mtu
    }
}

/// A libvirt `<network>` as the network hook sees it.
public struct NetworkDescription: Hashable, Sendable {
    public var name: String
    public var uuid: String?
    /// `<bridge name='...'/>`
    public var bridge: String?
    /// `<forward mode='...'/>`; nil when there is no `<forward>` (an isolated network).
    public var forwardMode: String?
    /// `<mtu size='...'/>`
    public var mtu: Int?
    /// Our `<vx:vxlan>` element, if the network carries one.
    public var overrides: SegmentOverrides?
    /// `<virtualport type='...'/>` of the network: libvirt gives it to every NIC on it.
    public var virtualPort: String?

    public init(
        name: String, uuid: String? = nil, bridge: String? = nil, forwardMode: String? = nil, mtu: Int? = nil,
        overrides: SegmentOverrides? = nil, virtualPort: String? = nil
    ) {
        self.name = name
        self.uuid = uuid
        self.bridge = bridge
        self.forwardMode = forwardMode
        self.mtu = mtu
        self.overrides = overrides
        self.virtualPort = virtualPort
    }

    /// The bridge kind libvirt plugs this network's guests into.
    public var bridgeKind: BridgeKind { virtualPort == "openvswitch" ? .openvswitch : .linux }
}

/// A libvirt `<networkport>`: one guest NIC plugged into a network.
public struct NetworkPortDescription: Hashable, Sendable {
    public var uuid: String
    /// `<owner><name>` and `<owner><uuid>`: the domain the port belongs to.
    public var ownerName: String
    public var ownerUUID: String
    public var mac: String?

    public init(uuid: String, ownerName: String, ownerUUID: String, mac: String? = nil) {
        self.uuid = uuid
        self.ownerName = ownerName
        self.ownerUUID = ownerUUID
        self.mac = mac
    }
}

/// The network hook's stdin: `<hookData><network/>[<networkport/>]</hookData>`.
public struct NetworkHookData: Hashable, Sendable {
    public var network: NetworkDescription
    public var port: NetworkPortDescription?

    public init(network: NetworkDescription, port: NetworkPortDescription? = nil) {
        self.network = network
        self.port = port
    }
}

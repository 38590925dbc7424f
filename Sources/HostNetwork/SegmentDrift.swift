import VXLANCore

/// Every link of the namespace from one dump (`ip link show`), so that thousands of
/// segments are checked without a request each. The underlay's addresses are read once
/// per underlay, and only for plans that take their VTEP address from it.
public struct LinkTable {
    let byName: [String: Link]
    let byIndex: [Int32: Link]
    let portsByMaster: [Int32: [Link]]
    private let addresses: (Link, IPAddress.Family) throws(KernelError) -> [IPAddress]
    private var addressCache: [String: [IPAddress]] = [:]

    public init(
        _ links: [Link], addresses: @escaping (Link, IPAddress.Family) throws(KernelError) -> [IPAddress]
    ) {
        byName = Dictionary(links.map { ($0.name, $0) }) { first, _ in first }
        byIndex = Dictionary(links.map { ($0.index, $0) }) { first, _ in first }
        portsByMaster = Dictionary(grouping: links.filter { $0.master != 0 }, by: \.master)
        self.addresses = addresses
    }

    /// A dump of the session's namespace.
    public init(dumping network: NetlinkSession) throws(KernelError) {
        self.init(try network.allLinks()) { (link, family) throws(KernelError) in
            try network.addresses(of: link, family: family)
        }
    }

    public func link(named name: InterfaceName) -> Link? { byName[name.rawValue] }

    /// The ports of the bridge of that name, nil when there is no such link.
    public func ports(ofBridge name: InterfaceName) -> [Link]? {
        byName[name.rawValue].map { portsByMaster[$0.index] ?? [] }
    }

    mutating func addresses(of link: Link, family: IPAddress.Family) throws(ConvergeError) -> [IPAddress] {
        let key = "\(link.name) \(family)"
        if let cached = addressCache[key] { return cached }
        do {
            let found = try addresses(link, family)
            addressCache[key] = found
            return found
        } catch {
            throw .kernel(error)
        }
    }

    /// The underlay as `NetlinkSession.underlay(named:)` finds it: the named device, or its
    /// bridge when it is a bridge port.
    func underlay(_ name: InterfaceName) -> Link? {
        guard let link = byName[name.rawValue] else { return nil }
        if link.master != 0, let master = byIndex[link.master], master.kind == "bridge" { return master }
        return link
    }
}

/// How a segment differs from its plan, in a few words for the journal.
public enum Drift: Equatable, Sendable, CustomStringConvertible {
    /// The underlay is missing, down or has no address for the VTEP: no repair can work
    /// until it changes, and that change is a notification of its own.
    case underlay(String)
    /// The segment's devices differ: a repair is due. The cause is the metrics' label.
    case segment(String, cause: RepairCause)

    public var description: String {
        switch self {
        case .underlay(let reason), .segment(let reason, _): reason
        }
    }
}

extension SegmentConverger {
    /// How the host differs from `plan`, or nil when it matches as far as links show
    /// (`ensure` would change nothing but, in unicast mode, an fdb changed by hand;
    /// `vxlanctl ensure` verifies those). Devices that are not ours are judged like
    /// `ensure` judges them: usable as they are, or a repair that fails.
    public static func drift(of plan: SegmentPlan, in table: inout LinkTable) -> Drift? {
        var underlay: Link?
        if let name = plan.underlay {
            guard let found = table.underlay(name) else { return .underlay("underlay \(name) missing") }
            guard found.isUp else { return .underlay("underlay \(found.name) down") }
            underlay = found
        }
        let spec: VXLANDeviceSpec
        do {
            spec = try deviceSpec(plan, underlay: underlay) { (link) throws(ConvergeError) in
                try table.addresses(of: link, family: plan.family)
            }
        } catch .noLocalAddress(let underlay, let family) {
            return .underlay(ConvergeError.noLocalAddress(underlay: underlay, family: family).description)
        } catch {
            return .segment(error.description, cause: .configuration)
        }
        guard let bridge = table.link(named: plan.names.bridge) else {
            return .segment("\(plan.names.bridge) missing", cause: .missing)
        }
        guard let vxlan = table.link(named: plan.names.vxlan) else {
            return .segment("\(plan.names.vxlan) missing", cause: .missing)
        }
        guard bridge.isUp, vxlan.isUp else {
            return .segment("\(bridge.isUp ? vxlan.name : bridge.name) down", cause: .down)
        }
        if plan.bridgeKind == .openvswitch {
            // The kernel datapath makes every port of every OVS bridge a port of
            // `ovs-system`; the userspace datapath's ports have no master, so a port
            // removed there (`ovs-vsctl del-port`) shows in no link: `vxlanctl ensure` repairs it.
            let inDatapath = vxlan.master != 0 && table.byIndex[vxlan.master]?.kind == "openvswitch"
            if plan.datapathType == .system, !inDatapath {
                return .segment("\(vxlan.name) not a port of Open vSwitch", cause: .detached)
            }
        } else {
            guard vxlan.master == bridge.index else {
                return .segment("\(vxlan.name) not a port of \(bridge.name)", cause: .detached)
            }
        }
        if let mtu = spec.mtu, vxlan.mtu != mtu || bridge.mtu != mtu, vxlan.isOwned(for: plan.vni) {
            return .segment("mtu \(vxlan.mtu) instead of \(mtu)", cause: .mtu)
        }
        let differences = Self.differences(vxlan.vxlan, spec)
        return differences.isEmpty ? nil : .segment(differences.joined(separator: ", "), cause: .parameters)
    }

    /// Deletes the VNI's vxlan device (`ip link del vxlanN`) when it is ours and differs
    /// from `plan` only in what follows the host rather than the configuration: the
    /// underlay's index (the underlay was re-created) or the VTEP address taken from the
    /// underlay (its address changed). The kernel cannot change either on a live device;
    /// `ensure` then makes a new one. Anything else that differs (a changed vxlan.conf)
    /// is left for the operator, as the hook leaves it. Returns what it did, or nil.
    public func replaceStale(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentChange? {
        guard
            let vxlan = try request({ () throws(KernelError) in try kernel.link(named: plan.names.vxlan.rawValue) }),
            vxlan.isOwned(for: plan.vni), let actual = vxlan.vxlan
        else { return nil }
        let wanted = try deviceSpec(plan, underlay: try kernel.underlay(named: plan.underlay))
        var followingHost = wanted
        followingHost.underlay = wanted.underlay.map { _ in actual.underlay }
        if plan.local == nil, wanted.local != nil { followingHost.local = actual.local }
        let stale = Self.differences(actual, wanted)
        guard !stale.isEmpty, Self.differences(actual, followingHost).isEmpty else { return nil }
        try request { () throws(KernelError) in try kernel.deleteLink(vxlan) }
        return .deletedVXLAN(vxlan.name, stale: stale)
    }
}

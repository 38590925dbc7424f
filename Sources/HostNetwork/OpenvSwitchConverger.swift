import Glibc
import OVSDB
import VXLANCore

/// What `OpenvSwitchConverger` asks of Open vSwitch's database: `VSwitch` over
/// ovsdb-server's socket, or a test's fake.
public protocol OpenvSwitchDatabase {
    /// The Bridge, Port and Interface rows named like the segment's devices.
    func segment(bridge: String, vxlan: String) throws(OVSDBError) -> VSwitch.Segment
    /// The bridge that holds a Port row, by its uuid.
    func bridge(holdingPort uuid: String) throws(OVSDBError) -> String?
    /// Port names by uuid.
    func portNames(_ uuids: Set<String>) throws(OVSDBError) -> [String]
    /// One transaction; returns the configuration number ovs-vswitchd reaches with it.
    func apply(_ change: VSwitch.Change) throws(OVSDBError) -> Int
    /// Returns once ovs-vswitchd has applied configuration `nextConfig`.
    func waitApplied(_ nextConfig: Int) throws(OVSDBError)
    /// Deletes bridges whose ports are still those given, in one transaction.
    func removeBridges(_ bridges: [VSwitch.Bridge]) throws(OVSDBError) -> Int
}

extension VSwitch: OpenvSwitchDatabase {}

/// What the host holds for an Open vSwitch segment: the database's rows (names and
/// marks) beside the kernel's links.
public struct OpenvSwitchSegmentStatus: Hashable, Sendable {
    public var segment: VSwitch.Segment
    /// The names of the bridge's ports other than its own and our vxlan port: guests' taps.
    public var otherPorts: [String]

    public init(segment: VSwitch.Segment, otherPorts: [String]) {
        self.segment = segment
        self.otherPorts = otherPorts
    }

    /// The bridge row carries our mark for `vni`.
    public func isOwned(for vni: VNI) -> Bool { segment.bridge?.row.ownerVNI == vni.value }
}

/// An Open vSwitch segment: an OVS bridge (made in OVSDB, its device made by
/// ovs-vswitchd) whose port is the same kernel vxlan device a Linux-bridge segment has,
/// made here over netlink in the VNI's interface group. Every row we create carries
/// `external_ids:libvirt-vxlan-vni`; a bridge or port without it is never changed or
/// removed. One read and at most one write transaction per ensure, each bounded by the
/// configured timeout; a new bridge is waited for until ovs-vswitchd has made its device
/// (libvirt copies that device's MTU onto the guest's tap).
public struct OpenvSwitchConverger {
    let network: NetlinkSession
    let connect: () throws(OVSDBError) -> any OpenvSwitchDatabase

    public init(network: NetlinkSession, connect: @escaping () throws(OVSDBError) -> any OpenvSwitchDatabase) {
        self.network = network
        self.connect = connect
    }

    /// ovsdb-server at `OVSDBSocket.path()` (OVS_RUNDIR, else /var/run/openvswitch).
    public static func database(timeoutMilliseconds: Int) -> () throws(OVSDBError) -> any OpenvSwitchDatabase {
        { () throws(OVSDBError) in
            try VSwitch.connect(socket: OVSDBSocket.path(), timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    private var linux: SegmentConverger { SegmentConverger(network: network) }

    // MARK: - ensure

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentConverger.EnsureResult {
        let underlay = try linux.resolveUnderlay(plan.underlay)
        let spec = try linux.deviceSpec(plan, underlay: underlay)
        let names = plan.names
        if let existing = try lookup(names.bridge), existing.kind == "bridge" {
            throw .bridgeKindMismatch(name: names.bridge.rawValue, found: .linux, wanted: .openvswitch)
        }
        let database = try ovsdb(connect)
        var rows = try ovsdb { () throws(OVSDBError) in
            try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
        }
        var actions: [SegmentConverger.Action] = []

        // A bridge of that name without our mark: used only as it stands, never changed.
        if let bridge = rows.bridge, bridge.row.ownerVNI != plan.vni.value {
            guard rows.vxlanPortOnBridge, let vxlan = try lookup(names.vxlan), vxlan.kind == "vxlan",
                SegmentConverger.differences(vxlan.vxlan, spec).isEmpty, vxlan.isUp
            else { throw .foreignBridge(names.bridge.rawValue) }
            return SegmentConverger.EnsureResult(actions: [], borrowed: true, mtu: spec.mtu ?? vxlan.mtu)
        }

        let createdVXLAN = try ensureVXLAN(spec, plan: plan, actions: &actions)
        do throws(ConvergeError) {
            var change = VSwitch.Change(
                bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue, vni: plan.vni.value,
                datapathType: plan.datapathType.rawValue, mtu: spec.mtu)
            if let bridge = rows.bridge {
                change.bridgeUUID = bridge.row.uuid
                if bridge.datapathType != plan.datapathType.rawValue,
                    !(bridge.datapathType.isEmpty && plan.datapathType == .system)
                {
                    change.setDatapathType = true
                    actions.append(
                        .init(
                            description:
                                "set datapath_type \(plan.datapathType) on Open vSwitch bridge \(bridge.row.name)"))
                }
                if let interface = rows.bridgeInterface, let mtu = spec.mtu, interface.mtuRequest != mtu {
                    change.bridgeInterfaceUUID = interface.row.uuid
                    actions.append(.init(description: "set mtu_request \(mtu) on \(bridge.row.name)"))
                }
            } else {
                change.createBridge = true
                actions.append(
                    .init(description: "created Open vSwitch bridge \(names.bridge) (datapath \(plan.datapathType))"))
            }
            if let port = rows.vxlanPort {
                guard port.row.ownerVNI == plan.vni.value else {
                    throw ConvergeError.foreignDevice(
                        name: port.row.name, differences: ["an Open vSwitch port without our mark"])
                }
                if !rows.vxlanPortOnBridge {
                    let holder = try ovsdb { () throws(OVSDBError) in
                        try database.bridge(holdingPort: port.row.uuid)
                    }
                    if let holder { throw ConvergeError.portOfOtherBridge(name: port.row.name, master: holder) }
                    change.reattachPortUUID = port.row.uuid
                    actions.append(.init(description: "added port \(names.vxlan) to \(names.bridge)"))
                }
            } else {
                change.addVXLANPort = true
                actions.append(.init(description: "added port \(names.vxlan) to \(names.bridge)"))
            }
            if !change.isEmpty {
                let next = try ovsdb { () throws(OVSDBError) in try database.apply(change) }
                do throws(ConvergeError) {
                    try ovsdb { () throws(OVSDBError) in try database.waitApplied(next) }
                } catch {
                    // Nothing half-made: a bridge created by this call goes again.
                    if change.createBridge { removeCreatedBridge(database, names) }
                    throw error
                }
            }
            if change.createBridge || rows.bridge == nil {
                rows = try ovsdb { () throws(OVSDBError) in
                    try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
                }
            }
            if let device = try lookup(names.bridge), try hideHost(on: device) {
                actions.append(.init(description: "set addrgenmode none on \(names.bridge)"))
            }
            if let error = rows.vxlanInterface?.error {
                throw ConvergeError.openvswitch(
                    "ovs-vswitchd cannot use \(names.vxlan) as a port of \(names.bridge): \(error)")
            }
        } catch {
            if createdVXLAN, let vxlan = try? network.link(named: names.vxlan.rawValue), vxlan.isOwned(for: plan.vni) {
                try? network.deleteLink(vxlan)
            }
            throw error
        }
        let device = try lookup(names.vxlan)
        return SegmentConverger.EnsureResult(actions: actions, borrowed: false, mtu: spec.mtu ?? device?.mtu ?? 1450)
    }

    /// The kernel vxlan device, as a Linux-bridge segment has it but in no bridge: Open
    /// vSwitch attaches it (the kernel datapath makes it a port of `ovs-system`). Returns
    /// whether this call created it.
    private func ensureVXLAN(
        _ spec: VXLANDeviceSpec, plan: SegmentPlan, actions: inout [SegmentConverger.Action]
    ) throws(ConvergeError) -> Bool {
        guard let vxlan = try lookup(spec.name) else {
            do {
                try network.createVXLAN(spec, master: 0, group: Ownership.interfaceGroup(for: plan.vni))
            } catch  where error.errno == ENOBUFS && spec.group != nil {
                throw .multicastLimit(name: spec.name.rawValue, group: spec.group ?? .v4(0))
            } catch {
                throw .netlink(error)
            }
            actions.append(.init(description: "created \(spec.name) (id \(spec.id) dstport \(spec.dstport))"))
            if plan.mode == .unicast, let created = try lookup(spec.name) {
                try forwarding(plan, vxlan: created, actions: &actions)
            }
            return true
        }
        guard vxlan.kind == "vxlan" else {
            throw .wrongKind(name: vxlan.name, kind: vxlan.kind, expected: "vxlan")
        }
        let differences = SegmentConverger.differences(vxlan.vxlan, spec)
        guard vxlan.isOwned(for: plan.vni) else {
            throw .foreignDevice(name: vxlan.name, differences: differences.isEmpty ? ["not ours"] : differences)
        }
        guard differences.isEmpty else {
            throw .ownedDeviceDiffers(name: vxlan.name, vni: plan.vni, differences: differences)
        }
        if vxlan.master != 0,
            let master = try netlink({ () throws(NetlinkError) in try network.link(index: vxlan.master) }),
            master.kind == "bridge"
        {
            throw .portOfOtherBridge(name: vxlan.name, master: master.name)
        }
        let wrongMTU = spec.mtu.map { $0 != vxlan.mtu } ?? false
        if !vxlan.isUp || wrongMTU {
            try netlink { () throws(NetlinkError) in
                try network.setLink(vxlan, up: true, mtu: wrongMTU ? spec.mtu : nil)
            }
            actions.append(.init(description: "repaired \(vxlan.name) (up, mtu \(spec.mtu ?? vxlan.mtu))"))
        }
        if plan.mode == .unicast { try forwarding(plan, vxlan: vxlan, actions: &actions) }
        return false
    }

    /// Unicast: one all-zero fdb entry per remote on the vxlan device itself (`bridge fdb
    /// append ... self`), which the kernel uses whatever bridges the device.
    private func forwarding(
        _ plan: SegmentPlan, vxlan: Link, actions: inout [SegmentConverger.Action]
    ) throws(ConvergeError) {
        try netlink { () throws(NetlinkError) in
            let present = try network.defaultDestinations(of: vxlan)
            for remote in plan.remotes where !present.contains(remote) {
                try network.appendDefaultDestination(remote, to: vxlan)
                actions.append(.init(description: "added fdb 00:00:00:00:00:00 dst \(remote) on \(vxlan.name)"))
            }
            for stale in present where !plan.remotes.contains(stale) {
                try network.deleteDefaultDestination(stale, from: vxlan)
                actions.append(.init(description: "removed fdb 00:00:00:00:00:00 dst \(stale) from \(vxlan.name)"))
            }
        }
    }

    private func removeCreatedBridge(_ database: any OpenvSwitchDatabase, _ names: SegmentNames) {
        guard
            let bridge = try? database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue).bridge,
            bridge.row.ownerVNI == names.vni.value
        else { return }
        _ = try? database.removeBridges([bridge])
    }

    /// `ip link set dev BRIDGE addrgenmode none`: no host address on the segment.
    private func hideHost(on device: Link) throws(ConvergeError) -> Bool {
        guard !device.generatesNoIPv6Address else { return false }
        do {
            try network.disableIPv6AddressGeneration(of: device)
        } catch  where error.errno == EAFNOSUPPORT {
            return false
        } catch {
            throw .netlink(error)
        }
        return true
    }

    // MARK: - status and teardown

    /// The database's rows of the segment and the names of the ports that keep it in use.
    public func status(of names: SegmentNames) throws(ConvergeError) -> OpenvSwitchSegmentStatus {
        let database = try ovsdb(connect)
        return try ovsdb { () throws(OVSDBError) in
            let segment = try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
            return OpenvSwitchSegmentStatus(segment: segment, otherPorts: try database.portNames(segment.otherPorts))
        }
    }

    /// Removes the VNI's Open vSwitch segment if it is ours and no port but ours is left:
    /// the bridge in OVSDB (guarded by the ports seen), then our vxlan device.
    public func teardown(_ names: SegmentNames) throws(ConvergeError) -> SegmentConverger.TeardownResult {
        let state = try status(of: names)
        let vxlan = try lookup(names.vxlan)
        if let vxlan, vxlan.kind != "vxlan" { throw .wrongKind(name: vxlan.name, kind: vxlan.kind, expected: "vxlan") }
        guard state.segment.bridge != nil || vxlan != nil else { return .absent }
        if let bridge = state.segment.bridge, bridge.row.ownerVNI != names.vni.value {
            return .notOwned(bridge.row.name)
        }
        if let vxlan, !vxlan.isOwned(for: names.vni) { return .notOwned(vxlan.name) }
        guard state.otherPorts.isEmpty else { return .inUse(ports: state.otherPorts) }
        var actions: [SegmentConverger.Action] = []
        if let bridge = state.segment.bridge {
            let database = try ovsdb(connect)
            _ = try ovsdb { () throws(OVSDBError) in try database.removeBridges([bridge]) }
            actions.append(.init(description: "deleted Open vSwitch bridge \(bridge.row.name)"))
        }
        if vxlan != nil {
            try netlink { () throws(NetlinkError) in
                try network.deleteLinks(inGroup: Ownership.interfaceGroup(for: names.vni))
            }
            actions.append(.init(description: "deleted \(names.vxlan)"))
        }
        return .removed(actions)
    }

    // MARK: - helpers

    private func lookup(_ name: InterfaceName) throws(ConvergeError) -> Link? {
        try netlink { () throws(NetlinkError) in try network.link(named: name.rawValue) }
    }

    private func netlink<T>(_ body: () throws(NetlinkError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .netlink(error) }
    }

    private func ovsdb<T>(_ body: () throws(OVSDBError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .openvswitch(error.description) }
    }
}

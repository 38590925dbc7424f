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
    /// Every Bridge row, and every Port row's name by uuid.
    func bridgesAndPortNames() throws(OVSDBError) -> (bridges: [VSwitch.Bridge], portNames: [String: String])
}

extension VSwitch: OpenvSwitchDatabase {}

/// An Open vSwitch segment: an OVS bridge (made in OVSDB, its device made by
/// ovs-vswitchd) whose port is the same kernel vxlan device a Linux-bridge segment has,
/// made here over netlink in the VNI's interface group. Every row we create carries
/// `external_ids:libvirt-vxlan-vni`; a bridge or port without it is never changed or
/// removed. One read and at most one write transaction per ensure, each bounded by the
/// configured timeout; a new bridge is waited for until ovs-vswitchd has made its device
/// (libvirt copies that device's MTU onto the guest's tap).
public struct OpenvSwitchConverger {
    let kernel: any LinkKernel
    /// ovsdb-server's socket: whether Open vSwitch runs here at all is whether it exists.
    let socket: String
    let connect: () throws(OVSDBError) -> any OpenvSwitchDatabase
    /// The connection this value opened, kept for its next calls (a resolve, then an ensure).
    private let opened = Opened()

    private final class Opened {
        var database: (any OpenvSwitchDatabase)?
    }

    public init(
        kernel: any LinkKernel, socket: String, connect: @escaping () throws(OVSDBError) -> any OpenvSwitchDatabase
    ) {
        self.kernel = kernel
        self.socket = socket
        self.connect = connect
    }

    /// ovsdb-server at `socket` (`OVSDBSocket.path()`: OVS_RUNDIR, else /var/run/openvswitch).
    public init(kernel: any LinkKernel, socket: String = OVSDBSocket.path(), timeoutMilliseconds: Int) {
        self.init(kernel: kernel, socket: socket) { () throws(OVSDBError) in
            try VSwitch.connect(socket: socket, timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    private var linux: SegmentConverger { SegmentConverger(kernel: kernel) }

    // MARK: - which kind

    /// The kind of the VNI's existing bridge, nil when there is none: a link of kind
    /// "bridge" is a Linux bridge, "openvswitch" an OVS bridge with the kernel datapath;
    /// anything else, or no link (the userspace datapath's bridge is a tap; ovs-vswitchd
    /// may be down), is an OVS bridge if the database has a Bridge row of that name. The
    /// database is asked only where Open vSwitch runs (its socket exists).
    public func existingKind(of names: SegmentNames) throws(ConvergeError) -> BridgeKind? {
        let link = try lookup(names.bridge)
        switch link?.kind {
        case "bridge": return .linux
        case "openvswitch": return .openvswitch
        default:
            guard access(socket, F_OK) == 0 else { return nil }
            let database = try database()
            let rows = try ovsdb { () throws(OVSDBError) in
                try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
            }
            return rows.bridge != nil ? .openvswitch : nil
        }
    }

    /// `plan` with the kind it gets on this host: an adopting plan (no NIC or network asked
    /// for a kind) takes the existing bridge's; a plan that asked is refused when the
    /// bridge exists as the other kind.
    public func resolve(_ plan: SegmentPlan) throws(ConvergeError) -> SegmentPlan {
        var resolved = plan
        resolved.adoptsExistingKind = false
        guard let existing = try existingKind(of: plan.names), existing != plan.bridgeKind else { return resolved }
        guard plan.adoptsExistingKind else {
            throw .bridgeKindMismatch(name: plan.names.bridge.rawValue, found: existing, wanted: plan.bridgeKind)
        }
        resolved.bridgeKind = existing
        return resolved
    }

    // MARK: - ensure

    public func ensure(_ plan: SegmentPlan) throws(ConvergeError) -> EnsureResult {
        let underlay = try kernel.underlay(named: plan.underlay)
        let spec = try linux.deviceSpec(plan, underlay: underlay)
        let names = plan.names
        if let existing = try lookup(names.bridge), existing.kind == "bridge" {
            throw .bridgeKindMismatch(name: names.bridge.rawValue, found: .linux, wanted: .openvswitch)
        }
        let database = try database()
        var rows = try ovsdb { () throws(OVSDBError) in
            try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
        }
        var actions: [SegmentChange] = []

        // A bridge of that name without our mark: used only as it stands, never changed.
        if let bridge = rows.bridge, bridge.row.ownerVNI != plan.vni.value {
            guard rows.vxlanPortOnBridge, let vxlan = try lookup(names.vxlan), vxlan.kind == "vxlan",
                SegmentConverger.differences(vxlan.vxlan, spec).isEmpty, vxlan.isUp
            else { throw .foreignBridge(names.bridge.rawValue) }
            return EnsureResult(changes: [], borrowed: true, mtu: spec.mtu ?? vxlan.mtu, bridgeKind: .openvswitch)
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
                        .setOpenvSwitchBridge(bridge.row.name, setting: "datapath_type \(plan.datapathType)"))
                }
                if let interface = rows.bridgeInterface, let mtu = spec.mtu, interface.mtuRequest != mtu {
                    change.bridgeInterfaceUUID = interface.row.uuid
                    actions.append(.setOpenvSwitchBridge(bridge.row.name, setting: "mtu_request \(mtu)"))
                }
            } else {
                change.createBridge = true
                actions.append(.createdOpenvSwitchBridge(names.bridge.rawValue, datapath: plan.datapathType.rawValue))
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
                    actions.append(.addedOpenvSwitchPort(names.vxlan.rawValue, bridge: names.bridge.rawValue))
                }
            } else {
                change.addVXLANPort = true
                actions.append(.addedOpenvSwitchPort(names.vxlan.rawValue, bridge: names.bridge.rawValue))
            }
            // A bridge of ours without its device (ovs-vswitchd was down, or is starting):
            // libvirt copies that device's MTU onto the guest's tap, so wait for it as for
            // a new bridge; an empty change is only `next_cfg += 1`.
            let device = change.createBridge ? nil : try lookup(names.bridge)
            let deviceMissing = !change.createBridge && device == nil
            // Our vxlan device made again under its existing port: ovs-vswitchd opens it at
            // its next reconfiguration, which the same empty change asks for and waits for.
            let reopen = createdVXLAN && rows.vxlanPort != nil
            if !change.isEmpty || deviceMissing || reopen {
                let next = try ovsdb { () throws(OVSDBError) in try database.apply(change) }
                do throws(ConvergeError) {
                    try ovsdb { () throws(OVSDBError) in try database.waitApplied(next) }
                } catch {
                    // Nothing half-made: a bridge created by this call goes again.
                    if change.createBridge { removeCreatedBridge(database, names) }
                    throw error
                }
            }
            // What ovs-vswitchd now says of our port (an error it recorded before is stale).
            if change.createBridge || rows.bridge == nil || createdVXLAN {
                rows = try ovsdb { () throws(OVSDBError) in
                    try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
                }
            }
            // The bridge's own device, made by ovs-vswitchd (again after a restart): no host
            // address on the segment, then up, as a Linux bridge of ours is.
            if let device = try lookup(names.bridge) {
                if try linux.hideHost(on: device) { actions.append(.hidHost(bridge: names.bridge.rawValue)) }
                if !device.isUp {
                    try request { () throws(KernelError) in
                        try kernel.setLink(device, up: true, mtu: nil, master: nil)
                    }
                    if !change.createBridge {
                        actions.append(.repairedBridge(names.bridge.rawValue, mtu: spec.mtu ?? device.mtu))
                    }
                }
            }
            if let error = rows.vxlanInterface?.error {
                throw ConvergeError.openvswitch(
                    "ovs-vswitchd cannot use \(names.vxlan) as a port of \(names.bridge): \(error)")
            }
        } catch {
            if createdVXLAN, let vxlan = try? kernel.link(named: names.vxlan.rawValue), vxlan.isOwned(for: plan.vni) {
                try? kernel.deleteLink(vxlan)
            }
            throw error
        }
        let device = try lookup(names.vxlan)
        return EnsureResult(
            changes: actions, borrowed: false, mtu: spec.mtu ?? device?.mtu ?? 1450, bridgeKind: .openvswitch)
    }

    /// The kernel vxlan device, as a Linux-bridge segment has it but in no bridge: Open
    /// vSwitch attaches it (the kernel datapath makes it a port of `ovs-system`). Returns
    /// whether this call created it.
    private func ensureVXLAN(
        _ spec: VXLANDeviceSpec, plan: SegmentPlan, actions: inout [SegmentChange]
    ) throws(ConvergeError) -> Bool {
        guard let vxlan = try lookup(spec.name) else {
            do {
                try kernel.createVXLAN(spec, master: 0, group: Ownership.interfaceGroup(for: plan.vni))
            } catch  where error.errno == ENOBUFS && spec.group != nil {
                throw .multicastLimit(name: spec.name.rawValue, group: spec.group ?? .v4(0))
            } catch {
                throw .kernel(error)
            }
            actions.append(.createdVXLAN(spec, bridge: plan.names.bridge.rawValue))
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
            let master = try request({ () throws(KernelError) in try kernel.link(index: vxlan.master) }),
            master.kind == "bridge"
        {
            throw .portOfOtherBridge(name: vxlan.name, master: master.name)
        }
        let wrongMTU = spec.mtu.map { $0 != vxlan.mtu } ?? false
        if !vxlan.isUp || wrongMTU {
            try request { () throws(KernelError) in
                try kernel.setLink(vxlan, up: true, mtu: wrongMTU ? spec.mtu : nil, master: nil)
            }
            actions.append(.repairedVXLAN(vxlan.name, bridge: plan.names.bridge.rawValue, mtu: spec.mtu ?? vxlan.mtu))
        }
        if plan.mode == .unicast { try forwarding(plan, vxlan: vxlan, actions: &actions) }
        return false
    }

    /// Unicast: one all-zero fdb entry per remote on the vxlan device itself (`bridge fdb
    /// append ... self`), which the kernel uses whatever bridges the device.
    private func forwarding(
        _ plan: SegmentPlan, vxlan: Link, actions: inout [SegmentChange]
    ) throws(ConvergeError) {
        try request { () throws(KernelError) in
            let present = try kernel.defaultDestinations(of: vxlan)
            for remote in plan.remotes where !present.contains(remote) {
                try kernel.appendDefaultDestination(remote, to: vxlan)
                actions.append(.addedForwarding(remote, device: vxlan.name))
            }
            for stale in present where !plan.remotes.contains(stale) {
                try kernel.deleteDefaultDestination(stale, from: vxlan)
                actions.append(.removedForwarding(stale, device: vxlan.name))
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

    // MARK: - status and removal

    /// The VNI's links, and for a bridge that is not a Linux bridge (or no bridge link at
    /// all) what Open vSwitch's database holds: the whole status the rules decide on. An
    /// OVS bridge's ports are those of the database (their devices, for the guests' taps).
    /// On a host without Open vSwitch (no socket) nothing but netlink is asked.
    public func status(of names: SegmentNames) throws(ConvergeError) -> SegmentStatus {
        var status = try request { () throws(KernelError) in try kernel.status(of: names) }
        guard status.bridge?.kind != "bridge", let bridge = try bridge(of: names) else { return status }
        status.openvswitch = bridge
        var ports = status.vxlan.map { [$0] } ?? []
        for name in bridge.otherPorts {
            if let port = try lookup(name) { ports.append(port) }
        }
        status.ports = ports
        return status
    }

    /// The OVS bridge of the segment's name as the database holds it, with the names of
    /// the ports that keep it in use; nil when there is none or Open vSwitch does not run
    /// here (no socket).
    public func bridge(of names: SegmentNames) throws(ConvergeError) -> OpenvSwitchBridge? {
        guard access(socket, F_OK) == 0 else { return nil }
        let database = try database()
        return try ovsdb { () throws(OVSDBError) -> OpenvSwitchBridge? in
            let rows = try database.segment(bridge: names.bridge.rawValue, vxlan: names.vxlan.rawValue)
            guard let bridge = rows.bridge else { return nil }
            return OpenvSwitchBridge(
                name: bridge.row.name, uuid: bridge.row.uuid, ownerVNI: bridge.row.ownerVNI.flatMap { try? VNI($0) },
                datapathType: bridge.datapathType, portUUIDs: bridge.ports, hasVXLANPort: rows.vxlanPortOnBridge,
                otherPorts: try database.portNames(rows.otherPorts))
        }
    }

    /// `status` for every VNI: the kernel's inventory (`segments`) with, for each OVS
    /// bridge that is ours or named by the bridge template, the database's view. One read
    /// of the database, whatever the number of bridges. For vxlanctl, never the hook.
    public func segments(
        in network: NetlinkSession, bridgeNames: NameTemplate, vxlanNames: NameTemplate
    ) throws(ConvergeError) -> [SegmentStatus] {
        var byVNI: [VNI: SegmentStatus] = [:]
        let inventory = try request { () throws(KernelError) in
            try network.segments(bridgeNames: bridgeNames, vxlanNames: vxlanNames)
        }
        for status in inventory { byVNI[status.vni] = status }
        guard access(socket, F_OK) == 0 else { return byVNI.values.sorted { $0.vni < $1.vni } }
        let database = try database()
        let (bridges, portNames) = try ovsdb { () throws(OVSDBError) in try database.bridgesAndPortNames() }
        for bridge in bridges {
            let owner = bridge.row.ownerVNI.flatMap { try? VNI($0) }
            guard let vni = owner ?? bridgeNames.vni(in: bridge.row.name) else { continue }
            let vxlanName = (try? vxlanNames.interfaceName(for: vni))?.rawValue
            var status = byVNI[vni] ?? SegmentStatus(vni: vni)
            if status.vxlan == nil, let vxlanName { status.vxlan = try lookup(vxlanName) }
            status.bridge = try lookup(bridge.row.name)
            let ports = bridge.ports.compactMap { portNames[$0] }.filter { $0 != bridge.row.name }.sorted()
            status.openvswitch = OpenvSwitchBridge(
                name: bridge.row.name, uuid: bridge.row.uuid, ownerVNI: owner, datapathType: bridge.datapathType,
                portUUIDs: bridge.ports, hasVXLANPort: ports.contains { $0 == vxlanName },
                otherPorts: ports.filter { $0 != vxlanName })
            var links = status.vxlan.map { [$0] } ?? []
            for name in ports where name != vxlanName {
                if let port = try lookup(name) { links.append(port) }
            }
            status.ports = links
            byVNI[vni] = status
        }
        return byVNI.values.sorted { $0.vni < $1.vni }
    }

    /// `ovs-vsctl del-br NAME...` in one transaction (one reconfiguration of ovs-vswitchd),
    /// only while each bridge still has exactly the ports the teardown decided on (a
    /// guest's tap added meanwhile: refused whole, nothing removed). The Port and
    /// Interface rows go with their bridge; ovs-vswitchd removes the bridges' devices.
    public func remove(_ bridges: [OpenvSwitchBridge]) throws(ConvergeError) {
        let database = try database()
        let rows = bridges.map {
            VSwitch.Bridge(
                row: VSwitch.Row(uuid: $0.uuid, name: $0.name), ports: $0.portUUIDs, datapathType: $0.datapathType)
        }
        _ = try ovsdb { () throws(OVSDBError) in try database.removeBridges(rows) }
    }

    // MARK: - helpers

    /// ovsdb-server, connected at the first call that needs it.
    private func database() throws(ConvergeError) -> any OpenvSwitchDatabase {
        if let database = opened.database { return database }
        let database = try ovsdb(connect)
        opened.database = database
        return database
    }

    private func lookup(_ name: InterfaceName) throws(ConvergeError) -> Link? {
        try lookup(name.rawValue)
    }

    private func lookup(_ name: String) throws(ConvergeError) -> Link? {
        try request { () throws(KernelError) in try kernel.link(named: name) }
    }

    private func request<T>(_ body: () throws(KernelError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .kernel(error) }
    }

    private func ovsdb<T>(_ body: () throws(OVSDBError) -> T) throws(ConvergeError) -> T {
        do { return try body() } catch { throw .openvswitch(error.description) }
    }
}

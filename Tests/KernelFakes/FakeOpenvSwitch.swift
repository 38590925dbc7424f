import HostNetwork
import OVSDB
import VXLANCore

/// Open vSwitch in memory, under `OpenvSwitchConverger` in place of ovsdb-server: Bridge,
/// Port and Interface rows by name, names unique as the schema's indexes make them, and
/// an ovs-vswitchd that (when `switchRuns`) makes each bridge's device in `kernel` when a
/// change is waited for. A test sets the scene with `addBridge`, stops the switch, makes
/// the database refuse, and reads the transactions in `transactions`.
public final class FakeOpenvSwitch: OpenvSwitchDatabase {
    public struct Row: Hashable {
        public var uuid: String
        public var name: String
        public var mark: UInt32?
    }

    public private(set) var bridges: [String: (row: Row, ports: Set<String>, datapath: String)] = [:]
    /// Port rows by uuid, with their interface's name.
    public private(set) var ports: [String: Row] = [:]
    /// "apply", "remove": one per write transaction.
    public private(set) var transactions: [String] = []
    public var switchRuns = true
    public var refuse: OVSDBError?
    let kernel: FakeKernel
    private var nextUUID = 1
    private var applied = 0

    public init(kernel: FakeKernel) {
        self.kernel = kernel
    }

    private func uuid() -> String {
        nextUUID += 1
        return "u\(nextUUID)"
    }

    /// A bridge made by someone (`mark` nil: not ours), with ports of these names.
    @discardableResult
    public func addBridge(_ name: String, mark: UInt32?, ports names: [String] = []) -> String {
        let uuid = uuid()
        var set: Set<String> = []
        for name in [name] + names {
            let port = self.uuid()
            ports[port] = Row(
                uuid: port, name: name, mark: name == names.first(where: { $0.hasPrefix("vxlan") }) ? mark : nil)
            set.insert(port)
        }
        bridges[name] = (Row(uuid: uuid, name: name, mark: mark), set, "system")
        return uuid
    }

    public func portNamed(_ name: String) -> Row? { ports.values.first { $0.name == name } }

    public func segment(bridge: String, vxlan: String) throws(OVSDBError) -> VSwitch.Segment {
        if let refuse { throw refuse }
        func vswitchRow(_ row: Row) -> VSwitch.Row {
            VSwitch.Row(
                uuid: row.uuid, name: row.name, externalIDs: row.mark.map { [VSwitch.ownerKey: String($0)] } ?? [:])
        }
        var segment = VSwitch.Segment()
        if let found = bridges[bridge] {
            segment.bridge = VSwitch.Bridge(
                row: vswitchRow(found.row), ports: found.ports, datapathType: found.datapath)
        }
        if let port = portNamed(bridge) { segment.bridgePort = VSwitch.Port(row: vswitchRow(port), interfaces: []) }
        if let port = portNamed(vxlan) { segment.vxlanPort = VSwitch.Port(row: vswitchRow(port), interfaces: []) }
        return segment
    }

    public func bridge(holdingPort uuid: String) throws(OVSDBError) -> String? {
        bridges.values.first { $0.ports.contains(uuid) }?.row.name
    }

    public func portNames(_ uuids: Set<String>) throws(OVSDBError) -> [String] {
        uuids.compactMap { ports[$0]?.name }.sorted()
    }

    public func apply(_ change: VSwitch.Change) throws(OVSDBError) -> Int {
        if let refuse { throw refuse }
        transactions.append("apply")
        var newPorts: Set<String> = []
        if change.addVXLANPort {
            guard portNamed(change.vxlan) == nil else { throw .refused(error: "constraint violation", details: nil) }
            let port = uuid()
            ports[port] = Row(uuid: port, name: change.vxlan, mark: change.vni)
            newPorts.insert(port)
        }
        if let reattach = change.reattachPortUUID { newPorts.insert(reattach) }
        if change.createBridge {
            guard bridges[change.bridge] == nil else { throw .refused(error: "constraint violation", details: nil) }
            let own = uuid()
            ports[own] = Row(uuid: own, name: change.bridge, mark: change.vni)
            bridges[change.bridge] = (
                Row(uuid: uuid(), name: change.bridge, mark: change.vni), newPorts.union([own]), change.datapathType
            )
        } else if let uuid = change.bridgeUUID, let name = bridges.first(where: { $0.value.row.uuid == uuid })?.key {
            bridges[name]?.ports.formUnion(newPorts)
            if change.setDatapathType { bridges[name]?.datapath = change.datapathType }
        }
        applied += 1
        return applied
    }

    /// ovs-vswitchd: every bridge gets its device (kind "openvswitch", down), as the
    /// kernel datapath makes it.
    public func waitApplied(_ nextConfig: Int) throws(OVSDBError) {
        guard switchRuns else { throw .switchNotApplying(socket: "/fake/db.sock", milliseconds: 1000) }
        for name in bridges.keys where kernel.named(name) == nil {
            kernel.add(Link(index: 0, name: name, kind: "openvswitch", isUp: false, generatesNoIPv6Address: false))
        }
    }

    public func removeBridges(_ removed: [VSwitch.Bridge]) throws(OVSDBError) -> Int {
        if let refuse { throw refuse }
        transactions.append("remove")
        for bridge in removed {
            guard bridges[bridge.row.name]?.ports == bridge.ports else {
                throw .refused(error: "timed out", details: nil)
            }
        }
        for bridge in removed {
            for port in bridges[bridge.row.name]?.ports ?? [] { ports[port] = nil }
            bridges[bridge.row.name] = nil
        }
        return applied
    }

    public func bridgesAndPortNames() throws(OVSDBError) -> (bridges: [VSwitch.Bridge], portNames: [String: String]) {
        let all = bridges.values.map {
            VSwitch.Bridge(
                row: VSwitch.Row(
                    uuid: $0.row.uuid, name: $0.row.name,
                    externalIDs: $0.row.mark.map { [VSwitch.ownerKey: String($0)] } ?? [:]),
                ports: $0.ports, datapathType: $0.datapath)
        }
        return (all, ports.mapValues(\.name))
    }
}

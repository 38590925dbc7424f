/// Open vSwitch's database (vswitch.ovsschema) as far as one VXLAN segment goes: an OVS
/// bridge whose ports are its own internal port and our kernel vxlan device, each row we
/// create marked with `external_ids:libvirt-vxlan-vni=VNI`. One read and at most one
/// write transaction per segment change; names are unique in the Bridge, Port and
/// Interface tables (the schema indexes them), so a row made meanwhile by someone else
/// fails our insert instead of doubling it.
public struct VSwitch {
    public let client: OVSDBClient
    /// The time every call of this value may take, in total.
    public let timeoutMilliseconds: Int

    /// The external_ids key of our mark, its value the VNI in decimal.
    public static let ownerKey = "libvirt-vxlan-vni"

    public init(client: OVSDBClient, timeoutMilliseconds: Int) {
        self.client = client
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Connects to ovsdb-server at `socket` (`OVSDBSocket.path()`).
    public static func connect(socket: String, timeoutMilliseconds: Int) throws(OVSDBError) -> VSwitch {
        let deadline = Deadline(millisecondsFromNow: timeoutMilliseconds)
        return VSwitch(
            client: try OVSDBClient(socket: socket, deadline: deadline), timeoutMilliseconds: timeoutMilliseconds)
    }

    public struct Row: Hashable, Sendable {
        public var uuid: String
        public var name: String
        public var externalIDs: [String: String]

        public init(uuid: String, name: String, externalIDs: [String: String] = [:]) {
            self.uuid = uuid
            self.name = name
            self.externalIDs = externalIDs
        }

        /// The VNI our mark names, if the row carries it.
        public var ownerVNI: UInt32? { externalIDs[VSwitch.ownerKey].flatMap { UInt32($0) } }
    }

    public struct Bridge: Hashable, Sendable {
        public var row: Row
        /// The uuids of its Port rows.
        public var ports: Set<String>
        /// "" (the default, which ovs-vswitchd takes as "system"), "system", "netdev".
        public var datapathType: String

        public init(row: Row, ports: Set<String>, datapathType: String) {
            self.row = row
            self.ports = ports
            self.datapathType = datapathType
        }
    }

    public struct Port: Hashable, Sendable {
        public var row: Row
        public var interfaces: Set<String>

        public init(row: Row, interfaces: Set<String>) {
            self.row = row
            self.interfaces = interfaces
        }
    }

    public struct Interface: Hashable, Sendable {
        public var row: Row
        /// "" for a system device, "internal" for a bridge's own device, ...
        public var type: String
        public var mtuRequest: Int?
        /// ovs-vswitchd's word on it ("could not open network device vxlan5001 (No such
        /// device)"), if any.
        public var error: String?
    }

    /// What the database holds for one segment's names.
    public struct Segment: Hashable, Sendable {
        /// The Bridge row named like the segment's bridge.
        public var bridge: Bridge?
        /// The bridge's own port (`name == bridge`) and its interface.
        public var bridgePort: Port?
        public var bridgeInterface: Interface?
        /// The Port row named like our vxlan device, and its interface.
        public var vxlanPort: Port?
        public var vxlanInterface: Interface?

        public init(
            bridge: Bridge? = nil, bridgePort: Port? = nil, bridgeInterface: Interface? = nil, vxlanPort: Port? = nil,
            vxlanInterface: Interface? = nil
        ) {
            self.bridge = bridge
            self.bridgePort = bridgePort
            self.bridgeInterface = bridgeInterface
            self.vxlanPort = vxlanPort
            self.vxlanInterface = vxlanInterface
        }
        /// The uuids of the bridge's ports other than its own and our vxlan port: guests' taps.
        public var otherPorts: Set<String> {
            var ports = bridge?.ports ?? []
            if let bridgePort { ports.remove(bridgePort.row.uuid) }
            if let vxlanPort { ports.remove(vxlanPort.row.uuid) }
            return ports
        }

        /// Whether our vxlan port is one of the bridge's ports.
        public var vxlanPortOnBridge: Bool {
            guard let bridge, let vxlanPort else { return false }
            return bridge.ports.contains(vxlanPort.row.uuid)
        }
    }

    private var deadline: Deadline { Deadline(millisecondsFromNow: timeoutMilliseconds) }

    // MARK: - reading

    /// `ovs-vsctl list Bridge BRIDGE; list Port BRIDGE VXLAN; list Interface BRIDGE VXLAN`:
    /// one read-only transaction, rows selected by name (never the whole table, so the
    /// cost does not grow with the host's bridges).
    public func segment(bridge: String, vxlan: String) throws(OVSDBError) -> Segment {
        let rowColumns: [JSON] = [.string("_uuid"), .string("name"), .string("external_ids")]
        let results = try client.transact(
            [
                Self.select(
                    "Bridge", name: bridge, columns: rowColumns + [.string("ports"), .string("datapath_type")]),
                Self.select("Port", name: bridge, columns: rowColumns + [.string("interfaces")]),
                Self.select("Port", name: vxlan, columns: rowColumns + [.string("interfaces")]),
                Self.select(
                    "Interface", name: bridge,
                    columns: rowColumns + [.string("type"), .string("mtu_request"), .string("error")]),
                Self.select(
                    "Interface", name: vxlan,
                    columns: rowColumns + [.string("type"), .string("mtu_request"), .string("error")]),
            ], deadline: deadline)
        func first(_ index: Int) -> JSON? { results[index]["rows"]?.array?.first }
        return Segment(
            bridge: first(0).flatMap(Self.bridge), bridgePort: first(1).flatMap(Self.port),
            bridgeInterface: first(3).flatMap(Self.interface), vxlanPort: first(2).flatMap(Self.port),
            vxlanInterface: first(4).flatMap(Self.interface))
    }

    /// `ovs-vsctl port-to-br PORT` by the Port row's uuid: the bridge that holds it.
    public func bridge(holdingPort uuid: String) throws(OVSDBError) -> String? {
        let results = try client.transact(
            [
                .object([
                    ("op", .string("select")), ("table", .string("Bridge")),
                    ("where", .array([.array([.string("ports"), .string("includes"), .uuid(uuid)])])),
                    ("columns", .array([.string("name")])),
                ])
            ], deadline: deadline)
        return results[0]["rows"]?.array?.first?["name"]?.string
    }

    /// The names of Port rows by uuid (the ports that keep a bridge in use), in name order.
    public func portNames(_ uuids: Set<String>) throws(OVSDBError) -> [String] {
        guard !uuids.isEmpty else { return [] }
        let operations = uuids.sorted().map { uuid -> JSON in
            .object([
                ("op", .string("select")), ("table", .string("Port")),
                ("where", .array([.array([.string("_uuid"), .string("=="), .uuid(uuid)])])),
                ("columns", .array([.string("name")])),
            ])
        }
        return try client.transact(operations, deadline: deadline)
            .compactMap { $0["rows"]?.array?.first?["name"]?.string }.sorted()
    }

    /// Every Bridge row that carries our mark, with its name and VNI: `status`, `gc`.
    public func ownedBridges() throws(OVSDBError) -> [Bridge] {
        let results = try client.transact(
            [
                .object([
                    ("op", .string("select")), ("table", .string("Bridge")),
                    // OVSDB selects a map by whole pairs, not by key: our few columns of
                    // every bridge, then the mark read here.
                    ("where", .array([])),
                    (
                        "columns",
                        .array([
                            .string("_uuid"), .string("name"), .string("external_ids"), .string("ports"),
                            .string("datapath_type"),
                        ])
                    ),
                ])
            ], deadline: deadline)
        return (results[0]["rows"]?.array ?? []).compactMap(Self.bridge).filter { $0.row.ownerVNI != nil }
    }

    /// Every Bridge row, and the name of every Port row by uuid, in one read: `vxlanctl
    /// status` (never the hook).
    public func bridgesAndPortNames() throws(OVSDBError) -> (bridges: [Bridge], portNames: [String: String]) {
        let results = try client.transact(
            [
                .object([
                    ("op", .string("select")), ("table", .string("Bridge")), ("where", .array([])),
                    (
                        "columns",
                        .array([
                            .string("_uuid"), .string("name"), .string("external_ids"), .string("ports"),
                            .string("datapath_type"),
                        ])
                    ),
                ]),
                .object([
                    ("op", .string("select")), ("table", .string("Port")), ("where", .array([])),
                    ("columns", .array([.string("_uuid"), .string("name")])),
                ]),
            ], deadline: deadline)
        var names: [String: String] = [:]
        for row in results[1]["rows"]?.array ?? [] {
            if let uuid = row["_uuid"]?.uuidValue, let name = row["name"]?.string { names[uuid] = name }
        }
        return ((results[0]["rows"]?.array ?? []).compactMap(Self.bridge), names)
    }

    /// The Open_vSwitch row's `cur_cfg` and `next_cfg`, and the datapath types this
    /// ovs-vswitchd supports (empty until it has started once): `vxlanctl check`.
    public func switchState() throws(OVSDBError) -> (currentConfig: Int, nextConfig: Int, datapathTypes: [String]) {
        let results = try client.transact(
            [
                .object([
                    ("op", .string("select")), ("table", .string("Open_vSwitch")), ("where", .array([])),
                    ("columns", .array([.string("cur_cfg"), .string("next_cfg"), .string("datapath_types")])),
                ])
            ], deadline: deadline)
        guard let row = results[0]["rows"]?.array?.first else {
            throw .malformed(socket: client.transport.socketPath, reason: "no Open_vSwitch row (ovs-vsctl init)")
        }
        return (
            row["cur_cfg"]?.integer ?? 0, row["next_cfg"]?.integer ?? 0,
            (row["datapath_types"]?.setElements ?? []).compactMap(\.string).sorted()
        )
    }

    // MARK: - writing

    /// What a segment's change asks of the database, decided from a `Segment` read.
    public struct Change: Hashable, Sendable {
        public var bridge: String
        public var vxlan: String
        public var vni: UInt32
        public var datapathType: String
        public var mtu: Int?
        /// Make the bridge (with its internal port).
        public var createBridge = false
        /// The uuid of our existing bridge, when the bridge is not created.
        public var bridgeUUID: String?
        /// Make our vxlan port (Port + Interface rows) and add it to the bridge.
        public var addVXLANPort = false
        /// Our existing vxlan Port row, made earlier but no longer on the bridge.
        public var reattachPortUUID: String?
        /// Set `datapath_type` on our existing bridge.
        public var setDatapathType = false
        /// Set `mtu_request` on the existing internal interface of our bridge.
        public var bridgeInterfaceUUID: String?

        public init(bridge: String, vxlan: String, vni: UInt32, datapathType: String, mtu: Int?) {
            self.bridge = bridge
            self.vxlan = vxlan
            self.vni = vni
            self.datapathType = datapathType
            self.mtu = mtu
        }

        public var isEmpty: Bool {
            !createBridge && !addVXLANPort && reattachPortUUID == nil && !setDatapathType && bridgeInterfaceUUID == nil
        }
    }

    /// The operations of `change`, as one transaction that also asks ovs-vswitchd to
    /// report when it has applied it (`next_cfg += 1`, read back).
    ///
    /// `ovs-vsctl -- add-br BRIDGE -- set Bridge BRIDGE datapath_type=T
    /// external_ids:libvirt-vxlan-vni=VNI -- set Interface BRIDGE mtu_request=MTU
    /// -- add-port BRIDGE VXLAN -- set Port VXLAN external_ids:...`
    public static func operations(_ change: Change) -> [JSON] {
        let mark = JSON.map([(ownerKey, String(change.vni))])
        var operations: [JSON] = []
        var newPorts: [JSON] = []
        if change.addVXLANPort {
            operations.append(
                insert(
                    "Interface", as: "vxlan_interface",
                    [("name", .string(change.vxlan)), ("type", .string("")), ("external_ids", mark)]))
            operations.append(
                insert(
                    "Port", as: "vxlan_port",
                    [
                        ("name", .string(change.vxlan)), ("interfaces", .namedUUID("vxlan_interface")),
                        ("external_ids", mark),
                    ]))
            newPorts.append(.namedUUID("vxlan_port"))
        }
        if let reattach = change.reattachPortUUID { newPorts.append(.uuid(reattach)) }
        if change.createBridge {
            var interface: [(String, JSON)] = [
                ("name", .string(change.bridge)), ("type", .string("internal")), ("external_ids", mark),
            ]
            if let mtu = change.mtu { interface.append(("mtu_request", .integer(mtu))) }
            operations.append(insert("Interface", as: "bridge_interface", interface))
            operations.append(
                insert(
                    "Port", as: "bridge_port",
                    [
                        ("name", .string(change.bridge)), ("interfaces", .namedUUID("bridge_interface")),
                        ("external_ids", mark),
                    ]))
            operations.append(
                insert(
                    "Bridge", as: "bridge",
                    [
                        ("name", .string(change.bridge)), ("ports", .set(newPorts + [.namedUUID("bridge_port")])),
                        ("datapath_type", .string(change.datapathType)), ("external_ids", mark),
                    ]))
            operations.append(
                mutate("Open_vSwitch", where: [], [("bridges", "insert", .set([.namedUUID("bridge")]))]))
        } else if let bridge = change.bridgeUUID {
            if !newPorts.isEmpty {
                operations.append(mutate("Bridge", where: byUUID(bridge), [("ports", "insert", .set(newPorts))]))
            }
            if change.setDatapathType {
                operations.append(
                    update("Bridge", where: byUUID(bridge), [("datapath_type", .string(change.datapathType))]))
            }
        }
        if let interface = change.bridgeInterfaceUUID, let mtu = change.mtu {
            operations.append(update("Interface", where: byUUID(interface), [("mtu_request", .integer(mtu))]))
        }
        operations.append(mutate("Open_vSwitch", where: [], [("next_cfg", "+=", .integer(1))]))
        operations.append(
            .object([
                ("op", .string("select")), ("table", .string("Open_vSwitch")), ("where", .array([])),
                ("columns", .array([.string("next_cfg")])),
            ]))
        return operations
    }

    /// Commits `change` in one transaction and returns the `next_cfg` that ovs-vswitchd
    /// reaches once it has applied it (see `waitApplied`).
    public func apply(_ change: Change) throws(OVSDBError) -> Int {
        let results = try client.transact(Self.operations(change), deadline: deadline)
        guard let next = results.last?["rows"]?.array?.first?["next_cfg"]?.integer else {
            throw .malformed(socket: client.transport.socketPath, reason: "no next_cfg after the change")
        }
        return next
    }

    /// `ovs-vsctl --if-exists del-br BRIDGE` for each of `bridges` in one transaction,
    /// each only if its ports are still exactly those the caller saw (a guest's tap
    /// added meanwhile aborts the whole transaction: nothing is deleted). The Port and
    /// Interface rows go with their bridge (the schema collects unreferenced rows);
    /// ovs-vswitchd then removes the bridges' internal devices from the kernel.
    public func removeBridges(_ bridges: [Bridge]) throws(OVSDBError) -> Int {
        guard !bridges.isEmpty else { return 0 }
        var operations: [JSON] = bridges.map { bridge in
            .object([
                ("op", .string("wait")), ("timeout", .integer(0)), ("table", .string("Bridge")),
                ("where", Self.byUUID(bridge.row.uuid)), ("columns", .array([.string("ports")])),
                ("until", .string("==")),
                ("rows", .array([.object([("ports", .set(bridge.ports.sorted().map { .uuid($0) }))])])),
            ])
        }
        operations.append(
            Self.mutate(
                "Open_vSwitch", where: [],
                [
                    ("bridges", "delete", .set(bridges.map { .uuid($0.row.uuid) })), ("next_cfg", "+=", .integer(1)),
                ]))
        operations.append(
            .object([
                ("op", .string("select")), ("table", .string("Open_vSwitch")), ("where", .array([])),
                ("columns", .array([.string("next_cfg")])),
            ]))
        let results = try client.transact(operations, deadline: deadline)
        return results.last?["rows"]?.array?.first?["next_cfg"]?.integer ?? 0
    }

    /// Waits, within the timeout, until ovs-vswitchd has applied configuration
    /// `nextConfig` (`cur_cfg >= nextConfig`): what `ovs-vsctl` does without `--no-wait`.
    /// Only then does a new bridge have its device in the kernel, whose MTU libvirt copies
    /// onto a guest's tap. ovsdb-server does the waiting (a `wait` operation).
    public func waitApplied(_ nextConfig: Int) throws(OVSDBError) {
        let operation: JSON = .object([
            ("op", .string("wait")), ("timeout", .integer(max(0, timeoutMilliseconds - 50))),
            ("table", .string("Open_vSwitch")),
            ("where", .array([.array([.string("cur_cfg"), .string("<"), .integer(nextConfig)])])),
            ("columns", .array([.string("cur_cfg")])), ("until", .string("==")), ("rows", .array([])),
        ])
        do {
            _ = try client.transact([operation], deadline: deadline)
        } catch .refused(let error, _) where error == "timed out" {
            throw .switchNotApplying(socket: client.transport.socketPath, milliseconds: timeoutMilliseconds)
        } catch .timedOut {
            throw .switchNotApplying(socket: client.transport.socketPath, milliseconds: timeoutMilliseconds)
        }
    }

    // MARK: - helpers

    static func select(_ table: String, name: String, columns: [JSON]) -> JSON {
        .object([
            ("op", .string("select")), ("table", .string(table)),
            ("where", .array([.array([.string("name"), .string("=="), .string(name)])])), ("columns", .array(columns)),
        ])
    }

    static func insert(_ table: String, as name: String, _ row: [(String, JSON)]) -> JSON {
        .object([
            ("op", .string("insert")), ("table", .string(table)), ("row", .object(row)), ("uuid-name", .string(name)),
        ])
    }

    static func mutate(_ table: String, where conditions: JSON, _ mutations: [(String, String, JSON)]) -> JSON {
        .object([
            ("op", .string("mutate")), ("table", .string(table)), ("where", conditions),
            ("mutations", .array(mutations.map { .array([.string($0.0), .string($0.1), $0.2]) })),
        ])
    }

    static func mutate(_ table: String, where conditions: [JSON], _ mutations: [(String, String, JSON)]) -> JSON {
        mutate(table, where: .array(conditions), mutations)
    }

    static func update(_ table: String, where conditions: JSON, _ row: [(String, JSON)]) -> JSON {
        .object([("op", .string("update")), ("table", .string(table)), ("where", conditions), ("row", .object(row))])
    }

    static func byUUID(_ uuid: String) -> JSON {
        .array([.array([.string("_uuid"), .string("=="), .uuid(uuid)])])
    }

    static func row(_ json: JSON) -> Row? {
        guard let uuid = json["_uuid"]?.uuidValue, let name = json["name"]?.string else { return nil }
        return Row(uuid: uuid, name: name, externalIDs: json["external_ids"]?.stringMap ?? [:])
    }

    static func uuids(_ json: JSON?) -> Set<String> {
        Set((json?.setElements ?? []).compactMap(\.uuidValue))
    }

    static func bridge(_ json: JSON) -> Bridge? {
        row(json).map {
            Bridge(row: $0, ports: uuids(json["ports"]), datapathType: json["datapath_type"]?.string ?? "")
        }
    }

    static func port(_ json: JSON) -> Port? {
        row(json).map { Port(row: $0, interfaces: uuids(json["interfaces"])) }
    }

    static func interface(_ json: JSON) -> Interface? {
        row(json).map {
            Interface(
                row: $0, type: json["type"]?.string ?? "", mtuRequest: json["mtu_request"]?.setElements.first?.integer,
                error: json["error"]?.setElements.first?.string)
        }
    }
}

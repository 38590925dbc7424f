/// Why vxlan.conf was refused: one line that names the line and the key.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case syntax(line: Int, message: String)
    case unknownTable(line: Int, name: String)
    case unknownKey(line: Int, key: String, table: String, known: [String])
    case wrongType(line: Int, key: String, expected: String, found: String)
    case invalidValue(line: Int, key: String, message: String)

    public var description: String {
        switch self {
        case .syntax(let line, let message):
            line > 0 ? "line \(line): \(message)" : message
        case .unknownTable(let line, let name):
            "line \(line): unknown table [\(name.escapedForMessage)] (known: [names], [metrics], [openvswitch])"
        case .unknownKey(let line, let key, let table, let known):
            "line \(line): unknown key '\(key.escapedForMessage)'\(table.isEmpty ? "" : " in [\(table)]") (known: \(known.joined(separator: ", ")))"
        case .wrongType(let line, let key, let expected, let found):
            "line \(line): \(key) must be \(expected), not \(found)"
        case .invalidValue(let line, let key, let message):
            "line \(line): \(key): \(message)"
        }
    }
}

extension Config {
    static let rootKeys = [
        "underlay", "local", "mode", "dstport", "ttl", "mtu", "vni_ranges", "remotes", "group_base", "guest_mtu",
        "bridge_type",
    ]
    static let nameKeys = ["bridge", "vxlan", "network"]
    static let metricsKeys = ["listen", "textfile", "textfile_interval", "peer_check_interval"]
    static let openvswitchKeys = ["datapath_type", "timeout"]

    /// Parses vxlan.conf. Keys left out keep their defaults; an empty file is `Config()`.
    /// Settings that depend on each other (a unicast mode needs remotes...) are checked
    /// here when both are in the file, and again for each VNI when a plan is made.
    public init(parsingTOML bytes: some Collection<UInt8>) throws(ConfigError) {
        let document: TOMLDocument
        // Concrete bytes from here on: unspecialized generic code resolves associated
        // types at run time, which the hook pays on every call.
        do { document = try TOMLDocument(parsing: Array(bytes)) } catch {
            throw .syntax(line: error.line, message: error.message)
        }
        self.init()
        for table in document.tables {
            switch table.name {
            case "": try decodeRoot(table)
            case "names": try decodeNames(table)
            case "metrics": try decodeMetrics(table)
            case "openvswitch": try decodeOpenvSwitch(table)
            default: throw .unknownTable(line: table.line, name: table.name)
            }
        }
        try checkConsistency(document)
    }

    private mutating func decodeRoot(_ table: TOMLDocument.Table) throws(ConfigError) {
        for key in table.order {
            guard let entry = table.entries[key] else { continue }
            let field = Field(key: key, entry: entry)
            switch key {
            case "underlay": underlay = try field.interfaceName()
            case "local": local = try field.unicastAddress()
            case "mode": mode = try field.choice(UnderlayMode.self)
            case "dstport": dstport = UInt16(try field.integer(in: 1...65_535))
            case "ttl": ttl = UInt8(try field.integer(in: 1...255))
            case "mtu": mtu = try field.mtu()
            case "vni_ranges": vniRanges = try field.vniRanges()
            case "remotes": remotes = try field.remotes()
            case "group_base": groupPolicy = try field.groupPolicy()
            case "guest_mtu": guestMTU = try field.choice(GuestMTUPolicy.self)
            case "bridge_type": bridgeType = try field.choice(BridgeKind.self)
            default:
                throw .unknownKey(line: entry.line, key: key, table: "", known: Self.rootKeys)
            }
        }
    }

    /// `[metrics]`: what `vxlanctl watch` exports (`MetricsSettings`). The hook reads none of it.
    private mutating func decodeMetrics(_ table: TOMLDocument.Table) throws(ConfigError) {
        for key in table.order {
            guard let entry = table.entries[key] else { continue }
            let field = Field(key: key, entry: entry)
            switch key {
            case "listen":
                let text = try field.string()
                guard text != "off" else {
                    metrics.listen = nil
                    continue
                }
                guard let address = ListenAddress(text) else {
                    throw .invalidValue(
                        line: entry.line, key: key,
                        message:
                            "\"\(text.escapedForMessage)\" is not ADDRESS:PORT (127.0.0.1:9470, [::1]:9470) or \"off\"")
                }
                metrics.listen = address
            case "textfile":
                let text = try field.string()
                switch text {
                case "auto": metrics.textfile = .auto
                case "off": metrics.textfile = .off
                default:
                    guard text.hasPrefix("/"), text.hasSuffix(".prom") else {
                        throw .invalidValue(
                            line: entry.line, key: key,
                            message:
                                "\"\(text.escapedForMessage)\" must be \"auto\", \"off\" or an absolute path ending in .prom"
                        )
                    }
                    metrics.textfile = .path(text)
                }
            case "textfile_interval": metrics.textfileInterval = Int(try field.integer(in: 1...3600))
            case "peer_check_interval": metrics.peerCheckInterval = Int(try field.integer(in: 0...86_400))
            default:
                throw .unknownKey(line: entry.line, key: key, table: "metrics", known: Self.metricsKeys)
            }
        }
    }

    private mutating func decodeNames(_ table: TOMLDocument.Table) throws(ConfigError) {
        for key in table.order {
            guard let entry = table.entries[key] else { continue }
            let template = try Field(key: key, entry: entry).template()
            switch key {
            case "bridge": names.bridge = template
            case "vxlan": names.vxlan = template
            case "network": names.network = template
            default: throw .unknownKey(line: entry.line, key: key, table: "names", known: Self.nameKeys)
            }
        }
    }

    private mutating func decodeOpenvSwitch(_ table: TOMLDocument.Table) throws(ConfigError) {
        for key in table.order {
            guard let entry = table.entries[key] else { continue }
            let field = Field(key: key, entry: entry)
            switch key {
            case "datapath_type": openvswitch.datapathType = try field.choice(OVSDatapathType.self)
            case "timeout": openvswitch.timeoutMilliseconds = Int(try field.integer(in: 1...60)) * 1000
            default:
                throw .unknownKey(line: entry.line, key: key, table: "openvswitch", known: Self.openvswitchKeys)
            }
        }
    }

    private func checkConsistency(_ document: TOMLDocument) throws(ConfigError) {
        let root = document.table("") ?? TOMLDocument.Table(name: "", line: 0)
        let names = document.table("names")
        func line(_ key: String, in table: TOMLDocument.Table? = nil) -> Int {
            (table ?? root).entries[key]?.line ?? 0
        }
        if mode == .evpn, bridgeType == .openvswitch {
            throw .invalidValue(
                line: line("bridge_type"), key: "bridge_type",
                message: "evpn mode needs Linux bridges: FRR learns guests' MAC addresses from the Linux bridge's fdb")
        }
        if mode == .unicast, remotes.isEmpty {
            throw .invalidValue(
                line: line("mode"), key: "mode", message: "unicast mode needs at least one entry in 'remotes'")
        }
        // The settings that pin an address family, in the order their errors name them.
        var first: (key: String, family: IPAddress.Family)?
        func pin(_ key: String, _ family: IPAddress.Family?) throws(ConfigError) {
            guard let family else { return }
            guard let earlier = first else { return first = (key, family) }
            guard family == earlier.family else {
                throw .invalidValue(
                    line: line(key), key: key,
                    message: "is \(family == .ipv4 ? "IPv4" : "IPv6") but \(earlier.key) is not: use one address family"
                )
            }
        }
        try pin("local", local?.family)
        try pin("remotes", remotes.first?.family)
        try pin("group_base", groupPolicy.networkFamily)
        for key in ["bridge", "vxlan"] {
            let template = key == "bridge" ? self.names.bridge : self.names.vxlan
            do { try template.validateInterfaceNames(for: vniRanges) } catch {
                let templateLine = line(key, in: names)
                throw .invalidValue(
                    line: templateLine > 0 ? templateLine : line("vni_ranges"),
                    key: templateLine > 0 ? key : "vni_ranges",
                    message: "\(error)")
            }
        }
        if self.names.bridge == self.names.vxlan {
            throw .invalidValue(
                line: line("vxlan", in: names), key: "vxlan", message: "must differ from the bridge template")
        }
    }
}

extension MulticastGroupPolicy {
    var networkFamily: IPAddress.Family? {
        if case .network(let network) = self { return network.address.family }
        return nil
    }
}

/// One `key = value` being decoded, with the errors that name it.
private struct Field {
    let key: String
    let entry: TOMLDocument.Entry

    var line: Int { entry.line }

    func invalid(_ message: String) -> ConfigError { .invalidValue(line: line, key: key, message: message) }

    func string() throws(ConfigError) -> String {
        guard case .string(let text) = entry.value else { throw wrongType("a string", entry.value) }
        return text
    }

    func strings() throws(ConfigError) -> [String] {
        guard case .array(let values) = entry.value else { throw wrongType("an array of strings", entry.value) }
        var texts: [String] = []
        for value in values {
            guard case .string(let text) = value else { throw wrongType("an array of strings", value) }
            texts.append(text)
        }
        return texts
    }

    func integer(in range: ClosedRange<Int64>) throws(ConfigError) -> Int64 {
        guard case .integer(let number) = entry.value else { throw wrongType("an integer", entry.value) }
        guard range.contains(number) else {
            throw invalid("\(number) is out of range (\(range.lowerBound)-\(range.upperBound))")
        }
        return number
    }

    private func wrongType(_ expected: String, _ found: TOMLDocument.Value) -> ConfigError {
        .wrongType(line: line, key: key, expected: expected, found: found.typeName)
    }

    func interfaceName() throws(ConfigError) -> InterfaceName {
        let text = try string()
        do { return try InterfaceName(text) } catch { throw invalid(error.description) }
    }

    func unicastAddress() throws(ConfigError) -> IPAddress {
        let text = try string()
        guard let address = IPAddress(text) else { throw invalid("'\(text.escapedForMessage)' is not an IP address") }
        guard !address.isMulticast else {
            throw invalid("\(address) is a multicast address; a VTEP address is unicast")
        }
        return address
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_: Choice.Type) throws(ConfigError) -> Choice
    where Choice.RawValue == String {
        let text = try string()
        guard let value = Choice(rawValue: text) else {
            throw invalid(
                "'\(text.escapedForMessage)' is not one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    func mtu() throws(ConfigError) -> MTUPolicy {
        if case .string(let text) = entry.value {
            guard text == "auto" else { throw invalid("'\(text.escapedForMessage)' is neither \"auto\" nor a number") }
            return .auto
        }
        let range = MTUPolicy.validRange
        return .fixed(Int(try integer(in: Int64(range.lowerBound)...Int64(range.upperBound))))
    }

    func vniRanges() throws(ConfigError) -> [VNIRange] {
        guard case .array(let values) = entry.value, !values.isEmpty else {
            throw entry.value == .array([]) ? invalid("needs at least one range") : wrongType("an array", entry.value)
        }
        var ranges: [VNIRange] = []
        for value in values {
            let text: String
            switch value {
            case .string(let string): text = string
            case .integer(let number): text = String(number)
            default: throw wrongType("an array of strings like \"5000-5999\"", value)
            }
            do { ranges.append(try VNIRange(parsing: text)) } catch { throw invalid(error.description) }
        }
        return ranges
    }

    func remotes() throws(ConfigError) -> [IPAddress] {
        var addresses: [IPAddress] = []
        for text in try strings() {
            guard let address = IPAddress(text) else {
                throw invalid("'\(text.escapedForMessage)' is not an IP address")
            }
            guard !address.isMulticast else {
                throw invalid("\(address) is multicast; remotes are unicast VTEP addresses")
            }
            guard !addresses.contains(address) else { throw invalid("\(address) is listed twice") }
            addresses.append(address)
        }
        return addresses
    }

    func groupPolicy() throws(ConfigError) -> MulticastGroupPolicy {
        let text = try string()
        if text == "cloudstack" { return .cloudstack }
        guard let network = IPNetwork(text) else {
            throw invalid("'\(text.escapedForMessage)' is neither \"cloudstack\" nor a CIDR such as \"239.1.0.0/16\"")
        }
        guard network.address.isMulticast else { throw invalid("\(network) is not a multicast network") }
        return .network(network)
    }

    func template() throws(ConfigError) -> NameTemplate {
        let text = try string()
        do { return try NameTemplate(text) } catch { throw invalid(error.description) }
    }
}

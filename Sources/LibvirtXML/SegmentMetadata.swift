import VXLANCore

extension SegmentOverrides {
    /// The attributes `<vx:vxlan>` may carry. Anything else is refused: a typo such as
    /// `dstprot` must fail loudly rather than leave the default quietly in force.
    static let attributeNames = ["vni", "mode", "group", "dstport", "ttl", "underlay", "local", "mtu"]

    /// Reads `<metadata><vx:vxlan .../></metadata>` of a network (namespace
    /// `urn:x-libvirt-vxlan:1.0`, under any prefix); nil when there is none. Every
    /// value is validated here, so a bad one is reported against its attribute.
    init?(metadataOf network: XMLNode, in document: XMLDocument) throws(LibvirtXMLError) {
        let elements = document.nodes("metadata/\(XMLDocument.metadataPrefix):vxlan", at: network)
        guard let element = elements.first else { return nil }
        // libvirt keeps one metadata element per namespace; two can only be hand-made,
        // and which one wins would be a guess.
        guard elements.count == 1 else { throw .duplicateElement(location: elements[1].path) }
        self.init()
        for name in element.attributeNames {
            try set(name, to: document.attribute(name, of: element) ?? "", on: element)
        }
        remotes = try Self.remotes(in: element, document: document)
    }

    private mutating func set(_ name: String, to value: String, on element: XMLNode) throws(LibvirtXMLError) {
        let location = "\(element.path)/@\(name)"
        switch name {
        case "vni":
            let range = "\(VNI.minimum)-\(VNI.maximum)"
            vni = try parse(value, at: location, "must be a decimal VNI, \(range)") { try? VNI(parsing: $0) }
        case "mode":
            let modes = UnderlayMode.allCases.map(\.rawValue).joined(separator: ", ")
            mode = try parse(value, at: location, "must be one of \(modes)") { UnderlayMode(rawValue: $0) }
        case "group":
            group = try parse(value, at: location, "must be an IPv4 or IPv6 multicast address") {
                IPAddress($0).flatMap { $0.isMulticast ? $0 : nil }
            }
        case "dstport":
            dstport = try parse(value, at: location, "must be a UDP port from 1 to 65535") {
                decimal($0, in: 1...65_535).map(UInt16.init)
            }
        case "ttl":
            ttl = try parse(value, at: location, "must be a TTL from 1 to 255") {
                decimal($0, in: 1...255).map(UInt8.init)
            }
        case "underlay":
            underlay = try parse(value, at: location, "must be a Linux interface name (1-15 printable characters)") {
                try? InterfaceName($0)
            }
        case "local":
            local = try parse(value, at: location, "must be a unicast IPv4 or IPv6 address", unicastAddress)
        case "mtu":
            let range = MTUPolicy.validRange
            mtu = try parse(value, at: location, "must be an MTU from \(range.lowerBound) to \(range.upperBound)") {
                decimal($0, in: range)
            }
        default:
            throw .unknownAttribute(element: element.path, name: name, allowed: Self.attributeNames)
        }
    }

    /// The `<vx:remote address='...'/>` children; nil when there are none, so that the
    /// configured remotes apply.
    private static func remotes(in element: XMLNode, document: XMLDocument) throws(LibvirtXMLError) -> [IPAddress]? {
        var remotes: [IPAddress] = []
        for child in element.childElements {
            guard child.namespaceURI == metadataNamespace, child.name == "remote" else {
                throw .unknownElement(parent: element.path, name: child.qualifiedName, allowed: ["remote"])
            }
            if let unknown = child.attributeNames.first(where: { $0 != "address" }) {
                throw .unknownAttribute(element: child.path, name: unknown, allowed: ["address"])
            }
            let address = try document.requiredString("@address", at: child)
            remotes.append(
                try parse(
                    address, at: "\(child.path)/@address", "must be a unicast IPv4 or IPv6 address", unicastAddress))
        }
        return remotes.isEmpty ? nil : remotes
    }
}

/// VTEP addresses (local, remote) are unicast; a multicast one is a mix-up with `group`.
private func unicastAddress(_ text: String) -> IPAddress? {
    IPAddress(text).flatMap { $0.isMulticast ? nil : $0 }
}

/// `convert(value)`, or an error that names the attribute, the value and what it must be.
/// `location` is only built for the error: libxml2 finds a node's path by counting its
/// siblings, so building it for each of many `<vx:remote>`s took quadratic time.
private func parse<Value>(
    _ value: String, at location: @autoclosure () -> String, _ reason: String, _ convert: (String) -> Value?
) throws(LibvirtXMLError) -> Value {
    guard let parsed = convert(value) else { throw .invalidValue(location: location(), value: value, reason: reason) }
    return parsed
}

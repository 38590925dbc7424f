import VXLANCore

extension NetworkDescription {
    /// Reads a `<network>` document, as `virsh net-dumpxml` prints it or an operator
    /// writes it for `virsh net-define`.
    public init(parsingNetworkXML bytes: some Collection<UInt8>) throws(LibvirtXMLError) {
        let document = try XMLDocument(parsing: Array(bytes))
        try self.init(element: document.root(named: ["network"]), in: document)
    }

    fileprivate init(element: XMLNode, in document: XMLDocument) throws(LibvirtXMLError) {
        self.init(
            name: try document.requiredString("name", at: element),
            uuid: document.string("uuid", at: element),
            bridge: document.string("bridge/@name", at: element),
            forwardMode: try Self.forwardMode(of: element, in: document),
            mtu: try document.int("mtu/@size", at: element, in: MTUPolicy.validRange),
            overrides: try SegmentOverrides(metadataOf: element, in: document),
            virtualPort: document.string("virtualport/@type", at: element))
    }

    /// A `<forward>` without `mode` means NAT to libvirt, which is not the same as no
    /// `<forward>` at all (an isolated network).
    private static func forwardMode(of network: XMLNode, in document: XMLDocument) throws(LibvirtXMLError)
        -> String?
    {
        guard let forward = document.node("forward", at: network) else { return nil }
        return document.attribute("mode", of: forward) ?? "nat"
    }
}

extension NetworkPortDescription {
    /// A `<networkport>` as libvirt formats it (docs/formatnetworkport): the port's
    /// uuid, the owning domain's name and uuid, the guest MAC.
    fileprivate init(element: XMLNode, in document: XMLDocument) throws(LibvirtXMLError) {
        self.init(
            uuid: try document.requiredString("uuid", at: element),
            ownerName: try document.requiredString("owner/name", at: element),
            ownerUUID: try document.requiredString("owner/uuid", at: element),
            mac: document.string("mac/@address", at: element))
    }
}

extension NetworkHookData {
    /// Reads the network hook's stdin: `<hookData>` around the network's live XML and,
    /// for `port-created` and `port-deleted`, the port's.
    public init(parsingHookData bytes: some Collection<UInt8>) throws(LibvirtXMLError) {
        let document = try XMLDocument(parsing: Array(bytes))
        let root = try document.root(named: ["hookData"])
        let network = try NetworkDescription(element: document.requiredNode("network", at: root), in: document)
        guard let port = document.node("networkport", at: root) else {
            self.init(network: network)
            return
        }
        self.init(network: network, port: try NetworkPortDescription(element: port, in: document))
    }
}

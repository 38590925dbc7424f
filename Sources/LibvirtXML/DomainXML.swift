import VXLANCore

extension DomainDescription {
    /// Reads the domain XML that libvirt gives the qemu hook on stdin.
    ///
    /// The root is `<domain>`, or `<domstatus>` around a `<domain>`: the form libvirt
    /// keeps for running guests, which can reach the hook around restore and migration.
    /// Only interfaces of type `bridge` and `network` are kept: the others (user, direct,
    /// ethernet, vhostuser, hostdev, ...) never sit on a bridge of ours. libvirt writes
    /// them in `<devices>` order, and so does this list.
    public init(parsingDomainXML bytes: some Collection<UInt8>) throws(LibvirtXMLError) {
        let document = try XMLDocument(parsing: Array(bytes))
        let root = try document.root(named: ["domain", "domstatus"])
        let domain = root.name == "domain" ? root : try document.requiredNode("domain", at: root)
        self.init(
            name: try document.requiredString("name", at: domain),
            // An empty <uuid/> names no user either: absent, as for libvirt's test domains.
            uuid: document.string("uuid", at: domain).flatMap { $0.isEmpty ? nil : $0 },
            interfaces: try Self.interfaces(of: domain, in: document))
    }

    private static func interfaces(of domain: XMLNode, in document: XMLDocument) throws(LibvirtXMLError)
        -> [GuestInterface]
    {
        try interfaceElements(of: domain, in: document).map(\.interface)
    }

    /// The interfaces of type bridge or network, with the elements they were read from.
    fileprivate static func interfaceElements(of domain: XMLNode, in document: XMLDocument)
        throws(LibvirtXMLError) -> [(interface: GuestInterface, element: XMLNode)]
    {
        var interfaces: [(interface: GuestInterface, element: XMLNode)] = []
        for element in document.nodes("devices/interface", at: domain) {
            if let interface = try GuestInterface(element: element, in: document) {
                interfaces.append((interface, element))
            }
        }
        return interfaces
    }

    /// A domain's XML (`virsh dumpxml --inactive`) with `<mtu size='N'/>` set on each of
    /// its `interfaces` (positions as in `DomainDescription.interfaces`) that `mtus` names,
    /// everything else as it was: the document for `virDomainDefineXML`. Edited through
    /// libxml2's tree, which escapes what it writes.
    public static func settingInterfaceMTUs(_ mtus: [Int: Int], inDomainXML bytes: some Collection<UInt8>)
        throws(LibvirtXMLError) -> String
    {
        let document = try XMLDocument(parsing: Array(bytes))
        let domain = try document.root(named: ["domain"])
        for (position, (_, element)) in try interfaceElements(of: domain, in: document).enumerated() {
            guard let mtu = mtus[position] else { continue }
            document.setAttribute("size", to: String(mtu), ofChild: "mtu", of: element)
        }
        return document.text
    }
}

extension GuestInterface {
    /// nil for interface types that cannot use a VXLAN bridge.
    ///
    /// A NIC whose `<source>` names a network is `.network` whatever its type says:
    /// libvirt writes `<interface type='network'>` for it in inactive XML (`prepare`,
    /// `stopped`, `release`) but `<interface type='bridge'>` with `<source network=...
    /// portid=... bridge=...>` in live XML (`start`, `started`, `reconnect`). Reading it
    /// the same way in every phase keeps the hook's bookkeeping consistent.
    fileprivate init?(element: XMLNode, in document: XMLDocument) throws(LibvirtXMLError) {
        let type = document.attribute("type", of: element)
        guard type == "bridge" || type == "network" else { return nil }
        let namesNetwork = document.string("source/@network", at: element) != nil
        let source: Source =
            if type == "network" || namesNetwork {
                .network(try document.requiredString("source/@network", at: element))
            } else {
                .bridge(try document.requiredString("source/@bridge", at: element))
            }
        self.init(
            source: source,
            mac: document.string("mac/@address", at: element),
            mtu: try document.int("mtu/@size", at: element, in: MTUPolicy.validRange),
            virtualPort: document.string("virtualport/@type", at: element))
    }
}

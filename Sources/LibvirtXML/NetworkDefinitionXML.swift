import CLibXML2
import VXLANCore

extension NetworkDefinition {
    /// The `<network>` document for `virNetworkDefineXML`, written by libxml2, which
    /// escapes every value; `NetworkDescription(parsingNetworkXML:)` reads it back.
    ///
    ///     <network>
    ///       <name>vxlan-5001</name>
    ///       <forward mode="bridge"/>
    ///       <bridge name="brvx-5001"/>
    ///       <virtualport type="openvswitch"/>    (an Open vSwitch segment only)
    ///       <metadata>
    ///         <vx:vxlan xmlns:vx="urn:x-libvirt-vxlan:1.0" vni="5001" mode="multicast" .../>
    ///       </metadata>
    ///     </network>
    public var xml: String {
        let writer = XMLWriter(root: "network")
        writer.element("name", in: writer.root, text: name)
        writer.element("forward", in: writer.root, attributes: [("mode", "bridge")])
        writer.element("bridge", in: writer.root, attributes: [("name", bridge.rawValue)])
        if let virtualPort { writer.element("virtualport", in: writer.root, attributes: [("type", virtualPort)]) }
        let metadataElement = writer.element("metadata", in: writer.root)
        var attributes = [("vni", vni.description)]
        if let mode = metadata.mode { attributes.append(("mode", mode.rawValue)) }
        if let group = metadata.group { attributes.append(("group", group.description)) }
        if let dstport = metadata.dstport { attributes.append(("dstport", String(dstport))) }
        if let mtu = metadata.mtu { attributes.append(("mtu", String(mtu))) }
        let vxlan = writer.element("vxlan", in: metadataElement, namespace: true, attributes: attributes)
        for remote in metadata.remotes ?? [] {
            writer.element("remote", in: vxlan, namespace: true, attributes: [("address", remote.description)])
        }
        return writer.text
    }
}

/// A document built with libxml2's tree API, for the little XML we write.
private final class XMLWriter {
    private let document: xmlDocPtr
    let root: xmlNodePtr
    /// Our metadata namespace, declared on the first element that uses it.
    private var namespace: xmlNsPtr?

    init(root name: String) {
        // Only malloc failing makes libxml2's constructors return nil.
        guard let document = "1.0".withXMLChars({ xmlNewDoc($0) }),
            let root = name.withXMLChars({ xmlNewDocNode(document, nil, $0, nil) })
        else { fatalError("out of memory") }
        self.document = document
        self.root = root
        xmlDocSetRootElement(document, root)
    }

    deinit { xmlFreeDoc(document) }

    /// `<name a="v"...>text</name>` appended to `parent`, in our namespace if asked.
    @discardableResult
    func element(
        _ name: String, in parent: xmlNodePtr, namespace inOurs: Bool = false, text: String? = nil,
        attributes: [(String, String)] = []
    ) -> xmlNodePtr {
        guard let node = name.withXMLChars({ xmlNewChild(parent, nil, $0, nil) }) else { fatalError("out of memory") }
        if inOurs {
            if namespace == nil {
                namespace = metadataNamespace.withXMLChars { href in
                    XMLDocument.metadataPrefix.withXMLChars { xmlNewNs(node, href, $0) }
                }
            }
            xmlSetNs(node, namespace)
        }
        // Text and values are stored as given; libxml2 escapes them when it writes the document.
        if let text { text.withXMLChars { xmlNodeAddContent(node, $0) } }
        for (attribute, value) in attributes {
            attribute.withXMLChars { name in value.withXMLChars { _ = xmlNewProp(node, name, $0) } }
        }
        return node
    }

    /// The document without its XML declaration, indented.
    var text: String { XMLDocument.text(of: document) }
}

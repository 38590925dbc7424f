import CLibXML2
import VXLANCore

/// A parsed piece of libvirt XML with typed XPath queries, in the spirit of libvirt's
/// own `virXPath*` helpers.
///
/// The hook runs as root on XML that guest owners can influence, so parsing is
/// defensive: the size is capped before libxml2 sees a byte, the parser stops at a
/// `<!DOCTYPE>` (before any entity is declared, so XXE and entity bombs never start),
/// nothing is fetched from the network, and libxml2 never prints to stderr, which
/// libvirt would show to the user.
///
/// Not `Sendable`: libxml2 documents and XPath contexts are not safe to share.
final class XMLDocument {
    /// libvirt's domain XML is a few KiB; a megabyte leaves room for any real guest.
    static let sizeLimit = 1 << 20

    /// No `NOENT` (entity substitution), `DTDLOAD`, `DTDATTR` or `HUGE`: each reopens an
    /// attack that the defaults keep closed. `NOERROR`/`NOWARNING` keep libxml2's own
    /// reporting off stderr.
    private static let options = Int32(
        bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_NOBLANKS.rawValue)

    /// The prefix under which our metadata namespace is known to XPath queries; the
    /// document itself may use any prefix.
    static let metadataPrefix = "vx"

    private let document: xmlDocPtr
    private let xpath: xmlXPathContextPtr

    init(parsing bytes: [UInt8]) throws(LibvirtXMLError) {
        let document = try Self.parse(bytes)
        guard let xpath = xmlXPathNewContext(document) else {
            xmlFreeDoc(document)
            throw .libxml2Failure("cannot create an XPath context")
        }
        // XPath errors go to this per-context handler rather than to stderr.
        xpath.pointee.error = { _, _ in }
        let registered = Self.metadataPrefix.withXMLChars { prefix in
            metadataNamespace.withXMLChars { uri in xmlXPathRegisterNs(xpath, prefix, uri) }
        }
        guard registered == 0 else {
            xmlXPathFreeContext(xpath)
            xmlFreeDoc(document)
            throw .libxml2Failure("cannot register the metadata namespace")
        }
        self.document = document
        self.xpath = xpath
    }

    deinit {
        xmlXPathFreeContext(xpath)
        xmlFreeDoc(document)
    }

    /// The root element, which must have no namespace and one of the `accepted` names.
    func root(named accepted: [String]) throws(LibvirtXMLError) -> XMLNode {
        guard let pointer = xmlDocGetRootElement(document) else {
            throw .unexpectedRoot(found: "", expected: accepted)
        }
        let root = XMLNode(pointer: pointer, owner: self)
        if let namespace = root.namespaceURI {
            throw .unexpectedRoot(found: "\(root.name) xmlns='\(namespace)'", expected: accepted)
        }
        guard accepted.contains(root.name) else { throw .unexpectedRoot(found: root.name, expected: accepted) }
        return root
    }

    // MARK: Queries

    /// The nodes `expression` selects from `node`, in document order.
    func nodes(_ expression: String, at node: XMLNode) throws(LibvirtXMLError) -> [XMLNode] {
        let result = expression.withXMLChars { xmlXPathNodeEval(node.pointer, $0, xpath) }
        defer { xmlXPathFreeObject(result) }
        // Every expression is a constant of this module, so only a lack of memory fails here.
        guard let result, result.pointee.type == XPATH_NODESET else {
            throw .libxml2Failure("XPath query '\(expression)' failed")
        }
        guard let set = result.pointee.nodesetval, let table = set.pointee.nodeTab else { return [] }
        return (0..<Int(set.pointee.nodeNr)).compactMap { table[$0] }.map { XMLNode(pointer: $0, owner: self) }
    }

    /// The first node `expression` selects, if any.
    func node(_ expression: String, at node: XMLNode) throws(LibvirtXMLError) -> XMLNode? {
        try nodes(expression, at: node).first
    }

    /// Like `node`, but its absence is an error naming where it was expected.
    func requiredNode(_ expression: String, at node: XMLNode) throws(LibvirtXMLError) -> XMLNode {
        guard let found = try self.node(expression, at: node) else {
            throw .missingValue(location: "\(node.path)/\(expression)")
        }
        return found
    }

    /// The text of the first node `expression` selects (an element's content or an
    /// attribute's value), as libvirt's `virXPathString` reads it.
    func string(_ expression: String, at node: XMLNode) throws(LibvirtXMLError) -> String? {
        try self.node(expression, at: node)?.content
    }

    /// Like `string`, but a missing or empty value is an error naming where it was expected.
    func requiredString(_ expression: String, at node: XMLNode) throws(LibvirtXMLError) -> String {
        guard let value = try string(expression, at: node), !value.isEmpty else {
            throw .missingValue(location: "\(node.path)/\(expression)")
        }
        return value
    }

    /// The value of `node`'s attribute `name` (one without a namespace).
    func attribute(_ name: String, of node: XMLNode) -> String? {
        guard let value = name.withXMLChars({ xmlGetNoNsProp(node.pointer, $0) }) else { return nil }
        defer { libvirt_vxlan_xml_free(value) }
        return String(cString: value)
    }

    /// The strict decimal integer that `expression` selects, which must lie in `range`;
    /// nil when the node is absent.
    func int(_ expression: String, at node: XMLNode, in range: ClosedRange<Int>) throws(LibvirtXMLError) -> Int? {
        guard let found = try self.node(expression, at: node) else { return nil }
        let text = found.content
        guard let value = decimal(text, in: range) else {
            throw .invalidValue(
                location: found.path, value: text,
                reason: "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    // MARK: Parsing

    private static func parse(_ bytes: [UInt8]) throws(LibvirtXMLError) -> xmlDocPtr {
        let size = bytes.count
        guard size <= sizeLimit else { throw .tooLarge(bytes: size, limit: sizeLimit) }
        xmlInitParser()
        guard let parser = xmlNewParserCtxt() else { throw .libxml2Failure("cannot create a parser context") }
        defer { xmlFreeParserCtxt(parser) }
        guard let sax = parser.pointee.sax else { throw .libxml2Failure("parser context has no SAX handler") }
        // libxml2 calls this at `<!DOCTYPE`, before it reads a single declaration. Stopping
        // the parser here is the only way this module ends a parse early, so USER_STOP
        // below means "had a DTD".
        sax.pointee.internalSubset = { context, _, _, _ in
            xmlStopParser(context?.assumingMemoryBound(to: xmlParserCtxt.self))
        }
        // Clear the thread's last error, so that `malformedError` reads this parse's.
        xmlResetLastError()
        let document = withSilencedErrors { read(bytes, count: size, with: parser) }
        if parser.pointee.errNo == Int32(XML_ERR_USER_STOP.rawValue) {
            xmlFreeDoc(document)
            throw .documentTypeDeclaration
        }
        guard let document else { throw malformedError(of: parser) }
        return document
    }

    private static func read(_ bytes: [UInt8], count: Int, with parser: xmlParserCtxtPtr) -> xmlDocPtr? {
        // The trailing NUL is never parsed (the size excludes it); it only guarantees a
        // non-nil buffer for empty input, so libxml2 reports "Document is empty".
        var buffer = ContiguousArray(bytes)
        buffer.append(0)
        return buffer.withUnsafeBufferPointer { storage in
            storage.withMemoryRebound(to: CChar.self) { chars in
                xmlCtxtReadMemory(parser, chars.baseAddress, Int32(count), nil, nil, options)
            }
        }
    }

    /// Runs `body` with libxml2's (per-thread) structured error handler set to a no-op,
    /// then puts back whatever was there. The parser's own reports are already off
    /// (`NOERROR`), but a few, such as character conversion errors, are raised without
    /// a parser context and would otherwise reach stderr. Restoring matters in vxlanctl,
    /// where libvirt's XML code shares the thread and relies on libxml2's handlers.
    private static func withSilencedErrors<Result>(_ body: () -> Result) -> Result {
        let handler = __xmlStructuredError()?.pointee ?? nil
        let context = __xmlStructuredErrorContext()?.pointee ?? nil
        xmlSetStructuredErrorFunc(nil) { _, _ in }
        defer { xmlSetStructuredErrorFunc(context, handler) }
        return body()
    }

    /// libxml2's own explanation, cut to its first line. Errors raised without a parser
    /// context land only in the thread's last error, hence the fallback.
    private static func malformedError(of parser: xmlParserCtxtPtr) -> LibvirtXMLError {
        let error = [xmlCtxtGetLastError(parser), xmlGetLastError()].lazy.compactMap { $0 }.first {
            $0.pointee.code != 0 && $0.pointee.message != nil
        }
        guard let error, let message = error.pointee.message else {
            return .libxml2Failure("the parser returned no document and no error")
        }
        let firstLine = String(cString: message).split(whereSeparator: \.isNewline).first ?? ""
        return .malformed(line: Int(error.pointee.line), message: String(firstLine))
    }
}

/// An element or attribute of an `XMLDocument`, which it keeps alive.
struct XMLNode {
    let pointer: xmlNodePtr
    let owner: XMLDocument

    /// The local name, without prefix.
    var name: String { String(cString: pointer.pointee.name) }

    var namespaceURI: String? { pointer.pointee.ns?.pointee.href.map { String(cString: $0) } }

    /// The name as written in the document, `prefix:name` when it has a prefix.
    var qualifiedName: String {
        guard let prefix = pointer.pointee.ns?.pointee.prefix else { return name }
        return "\(String(cString: prefix)):\(name)"
    }

    /// Where the node sits, as libxml2 spells it (`/domain/devices/interface[2]/mtu/@size`):
    /// error messages name the exact spot.
    var path: String { Self.consume(xmlGetNodePath(pointer)) }

    /// The text content: an attribute's value or an element's concatenated text.
    var content: String { Self.consume(xmlNodeGetContent(pointer)) }

    /// Every attribute's name as written, prefixed when it has a namespace, so that the
    /// strict readers of our metadata can refuse the ones they do not know.
    var attributeNames: [String] {
        var names: [String] = []
        var attribute = pointer.pointee.properties
        while let current = attribute {
            let name = String(cString: current.pointee.name)
            names.append(current.pointee.ns?.pointee.prefix.map { "\(String(cString: $0)):\(name)" } ?? name)
            attribute = current.pointee.next
        }
        return names
    }

    /// The element children, in document order (text, comments and the like left out).
    var childElements: [XMLNode] {
        var children: [XMLNode] = []
        var child = pointer.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { children.append(XMLNode(pointer: current, owner: owner)) }
            child = current.pointee.next
        }
        return children
    }

    /// Copies a string that libxml2 allocated for us, then frees it.
    private static func consume(_ text: UnsafeMutablePointer<xmlChar>?) -> String {
        guard let text else { return "" }
        defer { libvirt_vxlan_xml_free(text) }
        return String(cString: text)
    }
}

extension String {
    /// Calls `body` with the string as libxml2's NUL-terminated `xmlChar` (UTF-8) text.
    func withXMLChars<Result>(_ body: (UnsafePointer<xmlChar>) -> Result) -> Result {
        withCString { chars in chars.withMemoryRebound(to: xmlChar.self, capacity: utf8.count + 1, body) }
    }
}

/// A strict decimal integer within `range`: ASCII digits only, no sign, no spaces, no
/// leading zero. libvirt writes numbers this way; anything else is a typo or hostile.
func decimal(_ text: String, in range: ClosedRange<Int>) -> Int? {
    let digits = text.utf8
    guard (1...18).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
        digits.count == 1 || digits.first != UInt8(ascii: "0"), let value = Int(text), range.contains(value)
    else { return nil }
    return value
}

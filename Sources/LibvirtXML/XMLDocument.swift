import CLibXML2
import VXLANCore

/// A parsed piece of libvirt XML with typed queries by path, in the spirit of libvirt's
/// own `virXPath*` helpers.
///
/// The hook runs as root on XML that guest owners can influence, so parsing is
/// defensive: the size is capped before libxml2 sees a byte, the parser stops at a
/// `<!DOCTYPE>` (before any entity is declared, so XXE and entity bombs never start),
/// nothing is fetched from the network, and libxml2 never prints to stderr, which
/// libvirt would show to the user.
///
/// Not `Sendable`: libxml2 documents are not safe to share.
final class XMLDocument {
    /// No `NOENT` (entity substitution), `DTDLOAD`, `DTDATTR` or `HUGE`: each reopens an
    /// attack that the defaults keep closed. `NOERROR`/`NOWARNING` keep libxml2's own
    /// reporting off stderr.
    private static let options = Int32(
        bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_NOBLANKS.rawValue)

    /// The prefix under which paths name our metadata namespace; the document itself
    /// may use any prefix.
    static let metadataPrefix = "vx"

    private let document: xmlDocPtr

    init(parsing bytes: [UInt8]) throws(LibvirtXMLError) {
        document = try Self.parse(bytes)
    }

    deinit {
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

    /// The elements `path` selects from `node`, in document order, as the same XPath would:
    /// element steps separated by '/' (`devices/interface`, `metadata/vx:vxlan`). A step
    /// without a prefix matches only names without a namespace; `vx:` is our metadata
    /// namespace. A walk over children rather than libxml2's XPath, whose context alone
    /// hashes every XPath function, for paths that never need more than this.
    func nodes(_ path: some StringProtocol, at node: XMLNode) -> [XMLNode] {
        var selected = [node.pointer]
        // Split on the UTF-8 bytes: String's own split works on Characters, whose
        // grapheme breaking cost more than the XPath this replaced.
        let bytes = path.utf8
        var stepStart = bytes.startIndex
        while stepStart < bytes.endIndex {
            let stepEnd = bytes[stepStart...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
            let test = NameTest(String(path[stepStart..<stepEnd]))
            selected = selected.flatMap { test.children(of: $0) }
            stepStart = stepEnd < bytes.endIndex ? bytes.index(after: stepEnd) : stepEnd
        }
        return selected.map { XMLNode(pointer: $0, owner: self) }
    }

    /// The first element `path` selects, if any.
    func node(_ path: String, at node: XMLNode) -> XMLNode? {
        nodes(path, at: node).first
    }

    /// Like `node`, but its absence is an error naming where it was expected.
    func requiredNode(_ path: String, at node: XMLNode) throws(LibvirtXMLError) -> XMLNode {
        guard let found = self.node(path, at: node) else {
            throw .missingValue(location: "\(node.path)/\(path)")
        }
        return found
    }

    /// The text `path` selects, as libvirt's `virXPathString` reads it: an element's
    /// content, or with a last step `@name` (`source/@bridge`, `@address`) the value of
    /// that attribute (one without a namespace) on the first element that has it.
    func string(_ path: String, at node: XMLNode) -> String? {
        value(path, at: node)?.text
    }

    /// A text `path` selected, and where.
    private struct Value {
        var text: String
        var element: XMLNode
        var attribute: String?

        /// Where the text was found, as libxml2 spells it: `/domain/devices/interface[2]/mtu/@size`.
        var location: String { attribute.map { "\(element.path)/@\($0)" } ?? element.path }
    }

    private func value(_ path: String, at node: XMLNode) -> Value? {
        let bytes = path.utf8
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")) else {
            return self.node(path, at: node).map { Value(text: $0.content, element: $0) }
        }
        let name = String(path[bytes.index(after: at)...])
        let elements = at == bytes.startIndex ? [node] : nodes(path[..<bytes.index(before: at)], at: node)
        for element in elements {
            if let text = attribute(name, of: element) { return Value(text: text, element: element, attribute: name) }
        }
        return nil
    }

    /// Like `string`, but a missing or empty value is an error naming where it was expected.
    func requiredString(_ path: String, at node: XMLNode) throws(LibvirtXMLError) -> String {
        guard let value = string(path, at: node), !value.isEmpty else {
            throw .missingValue(location: "\(node.path)/\(path)")
        }
        return value
    }

    /// The value of `node`'s attribute `name` (one without a namespace), through
    /// libxml2's attribute API.
    func attribute(_ name: String, of node: XMLNode) -> String? {
        guard let value = name.withXMLChars({ xmlGetNoNsProp(node.pointer, $0) }) else { return nil }
        defer { libvirt_vxlan_xml_free(value) }
        return String(cString: value)
    }

    /// The strict decimal integer that `path` selects, which must lie in `range`; nil
    /// when the node is absent.
    func int(_ path: String, at node: XMLNode, in range: ClosedRange<Int>) throws(LibvirtXMLError) -> Int? {
        guard let found = value(path, at: node) else { return nil }
        guard let value = decimal(found.text, in: range) else {
            throw .invalidValue(
                location: found.location, value: found.text,
                reason: "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    // MARK: Editing

    /// Sets attribute `name` of `node`'s first child element `child` (one without a
    /// namespace), adding that child last if there is none: `<mtu size='1400'/>` in an
    /// `<interface>`. libxml2 escapes the value when the document is written.
    func setAttribute(_ name: String, to value: String, ofChild child: String, of node: XMLNode) {
        let element =
            self.node(child, at: node)?.pointer
            ?? child.withXMLChars { xmlNewChild(node.pointer, nil, $0, nil) }
        // Only malloc failing makes libxml2's constructors return nil.
        guard let element else { fatalError("out of memory") }
        _ = name.withXMLChars { name in value.withXMLChars { xmlSetProp(element, name, $0) } }
    }

    /// The whole document as text, without its XML declaration, indented.
    var text: String { Self.text(of: document) }

    /// `document` as text, without its XML declaration, indented.
    static func text(of document: xmlDocPtr) -> String {
        guard let buffer = xmlBufferCreate() else { fatalError("out of memory") }
        defer { xmlBufferFree(buffer) }
        xmlNodeDump(buffer, document, xmlDocGetRootElement(document), 0, 1)
        return String(cString: xmlBufferContent(buffer)) + "\n"
    }

    // MARK: Parsing

    private static func parse(_ bytes: [UInt8]) throws(LibvirtXMLError) -> xmlDocPtr {
        let size = bytes.count
        guard size <= inputSizeLimit else { throw .tooLarge(bytes: size, limit: inputSizeLimit) }
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

/// One element step of a path: `name` or `prefix:name`.
private struct NameTest {
    let name: String
    /// The namespace the element must be in; nil for a name without a prefix.
    let namespace: String?

    init(_ step: String) {
        let bytes = step.utf8
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            name = step
            namespace = nil
            return
        }
        // Paths are constants of this module; a prefix it does not know is a typo in it.
        precondition(String(step[..<colon]) == XMLDocument.metadataPrefix, "unknown prefix in '\(step)'")
        name = String(step[bytes.index(after: colon)...])
        namespace = metadataNamespace
    }

    func children(of parent: xmlNodePtr) -> [xmlNodePtr] {
        var found: [xmlNodePtr] = []
        var child = parent.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE, matches(current.pointee.name, current.pointee.ns) {
                found.append(current)
            }
            child = current.pointee.next
        }
        return found
    }

    private func matches(_ nodeName: UnsafePointer<xmlChar>?, _ ns: xmlNsPtr?) -> Bool {
        guard let nodeName, name.withXMLChars({ xmlStrEqual(nodeName, $0) }) != 0 else { return false }
        guard let namespace else { return ns == nil }
        guard let href = ns?.pointee.href else { return false }
        return namespace.withXMLChars { xmlStrEqual(href, $0) } != 0
    }
}

/// An element of an `XMLDocument`, which it keeps alive.
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

    /// The element's concatenated text.
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

import VXLANCore

/// Why a piece of libvirt XML was refused.
///
/// Each description is one line, because at `prepare begin` libvirt shows the hook's
/// stderr to whoever ran `virsh start`; every part that comes from the document is
/// escaped, so a hostile name cannot forge a second line.
public enum LibvirtXMLError: Error, Equatable, CustomStringConvertible {
    /// The input is larger than anything libvirt writes; refused before parsing.
    case tooLarge(bytes: Int, limit: Int)
    /// libxml2 could not parse the input; `message` is its own, cut to one line.
    case malformed(line: Int, message: String)
    /// The input has a `<!DOCTYPE>`. libvirt never writes one, and a DTD is what external
    /// entities (XXE) and entity expansion bombs need, so the parser stops at it.
    case documentTypeDeclaration
    /// The root element is not one this document kind may have.
    case unexpectedRoot(found: String, expected: [String])
    /// A required element or attribute is absent (or empty), at `location`.
    case missingValue(location: String)
    /// A value is present but unusable.
    case invalidValue(location: String, value: String, reason: String)
    /// An attribute our schema does not know, on one of our own elements.
    case unknownAttribute(element: String, name: String, allowed: [String])
    /// A child element our schema does not know, inside one of our own elements.
    case unknownElement(parent: String, name: String, allowed: [String])
    /// An element that may appear at most once appears more often.
    case duplicateElement(location: String)
    /// libxml2 itself failed (out of memory): nothing the document can cause otherwise.
    case libxml2Failure(String)

    public var description: String {
        switch self {
        case .tooLarge(let bytes, let limit):
            "XML input is \(bytes) bytes, over the limit of \(limit) bytes (libvirt's own XML is a few KiB)"
        case .malformed(let line, let message):
            "malformed XML at line \(line): \(message.escapedForMessage)"
        case .documentTypeDeclaration:
            "XML input has a <!DOCTYPE>; libvirt never writes one and a DTD can pull in files or expand entities, so it is refused"
        case .unexpectedRoot(let found, let expected):
            "XML root element is <\(found.escapedForMessage)>; expected \(expected.map { "<\($0)>" }.joined(separator: " or "))"
        case .missingValue(let location):
            "XML lacks \(location.escapedForMessage)"
        case .invalidValue(let location, let value, let reason):
            "invalid value '\(value.escapedForMessage)' for \(location.escapedForMessage): \(reason)"
        case .unknownAttribute(let element, let name, let allowed):
            "unknown attribute '\(name.escapedForMessage)' on \(element.escapedForMessage) (allowed: \(allowed.joined(separator: ", ")))"
        case .unknownElement(let parent, let name, let allowed):
            "unknown element <\(name.escapedForMessage)> in \(parent.escapedForMessage) (allowed: \(allowed.joined(separator: ", ")))"
        case .duplicateElement(let location):
            "XML has more than one \(location.escapedForMessage); at most one is allowed"
        case .libxml2Failure(let what):
            "libxml2 failed: \(what.escapedForMessage)"
        }
    }
}

/// RFC 7047's `transact` over one connection: a request, then the answer with its id.
/// Whatever else the server sends meanwhile (an `echo`, answered; notifications) is
/// not ours. Every call is bounded by the deadline it is given.
public final class OVSDBClient {
    public let transport: any OVSDBTransport
    public static let database = "Open_vSwitch"
    private var nextID = 0
    private var buffered: [UInt8] = []
    /// An answer larger than this is refused: ours are a few rows.
    static let maximumMessage = 4 << 20

    public init(transport: any OVSDBTransport) {
        self.transport = transport
    }

    /// Connects to ovsdb-server's unix socket at `path` (`OVSDBSocket.path()`).
    public convenience init(socket path: String, deadline: Deadline) throws(OVSDBError) {
        self.init(transport: try UnixSocketTransport(path: path, deadline: deadline))
    }

    /// Runs `operations` as one transaction: all of them or none. Returns each
    /// operation's result; the first error the server reports is thrown.
    public func transact(_ operations: [JSON], deadline: Deadline) throws(OVSDBError) -> [JSON] {
        nextID += 1
        let id = nextID
        let request: JSON = .object([
            ("method", .string("transact")), ("params", .array([.string(Self.database)] + operations)),
            ("id", .integer(id)),
        ])
        try transport.send(Array(request.encoded.utf8), deadline: deadline)
        while true {
            let message = try nextMessage(deadline: deadline)
            if message["method"]?.string == "echo", let echoID = message["id"] {
                let reply: JSON = .object([
                    ("id", echoID), ("result", message["params"] ?? .array([])), ("error", .null),
                ])
                try transport.send(Array(reply.encoded.utf8), deadline: deadline)
                continue
            }
            guard message["id"]?.integer == id else { continue }
            return try Self.results(of: message, operations: operations.count, socket: transport.socketPath)
        }
    }

    /// The results of a `transact` answer, or the first error in it.
    static func results(of message: JSON, operations: Int, socket: String) throws(OVSDBError) -> [JSON] {
        if let error = message["error"], error != .null {
            throw .refused(
                error: error["error"]?.string ?? error.string ?? error.encoded, details: error["details"]?.string)
        }
        guard let results = message["result"]?.array else {
            throw .malformed(socket: socket, reason: "no result")
        }
        // An operation that failed has an "error" member; the operations after it have
        // null results, and one result past the last operation means the commit failed.
        for result in results {
            if let error = result["error"]?.string {
                throw .refused(error: error, details: result["details"]?.string)
            }
        }
        guard results.count >= operations else {
            throw .malformed(socket: socket, reason: "\(results.count) results for \(operations) operations")
        }
        return results
    }

    private func nextMessage(deadline: Deadline) throws(OVSDBError) -> JSON {
        while true {
            if let length = JSON.completeValueLength(in: buffered[...]) {
                let bytes = Array(buffered[0..<length])
                buffered.removeFirst(length)
                do {
                    return try JSON(parsing: bytes)
                } catch {
                    throw .malformed(socket: transport.socketPath, reason: error.description)
                }
            }
            guard buffered.count < Self.maximumMessage else {
                throw .malformed(socket: transport.socketPath, reason: "an answer over \(Self.maximumMessage) bytes")
            }
            buffered += try transport.receive(deadline: deadline)
        }
    }
}

// MARK: - OVSDB's value notation (RFC 7047 section 5.1)

extension JSON {
    /// `["uuid", "..."]`
    public static func uuid(_ value: String) -> JSON { .array([.string("uuid"), .string(value)]) }

    /// `["named-uuid", "..."]`: a row inserted earlier in the same transaction.
    public static func namedUUID(_ name: String) -> JSON { .array([.string("named-uuid"), .string(name)]) }

    /// `["set", [...]]`
    public static func set(_ elements: [JSON]) -> JSON { .array([.string("set"), .array(elements)]) }

    /// `["map", [[k, v], ...]]` of strings, keys in order.
    public static func map(_ pairs: [(String, String)]) -> JSON {
        .array([.string("map"), .array(pairs.map { .array([.string($0.0), .string($0.1)]) })])
    }

    /// A set column's elements: `["set", [...]]`, or the one atom a set of one is written as.
    public var setElements: [JSON] {
        if case .array(let parts) = self, parts.count == 2, parts[0] == .string("set"), let elements = parts[1].array {
            return elements
        }
        return [self]
    }

    /// A uuid atom's text.
    public var uuidValue: String? {
        if case .array(let parts) = self, parts.count == 2, parts[0] == .string("uuid") { return parts[1].string }
        return nil
    }

    /// A map column of strings.
    public var stringMap: [String: String] {
        guard case .array(let parts) = self, parts.count == 2, parts[0] == .string("map"), let pairs = parts[1].array
        else { return [:] }
        var map: [String: String] = [:]
        for pair in pairs {
            guard let entry = pair.array, entry.count == 2, let key = entry[0].string, let value = entry[1].string
            else { continue }
            map[key] = value
        }
        return map
    }
}

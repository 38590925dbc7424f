import Glibc
import VXLANCore

/// `GET /metrics` over HTTP/1.1 on the address the operator chose, served from the
/// watcher's own `poll()` loop: a listening socket and at most `maximumConnections`
/// non-blocking connections, each read until the end of its request head, answered,
/// and closed (`Connection: close`). One endpoint scraped every few seconds does not
/// earn a server framework (swift-nio would add threads, minutes of CI build and
/// megabytes to vxlanctl); this is what Prometheus needs and nothing a client can make
/// the watcher wait on: a slow or silent client holds a slot until its deadline, never
/// the loop, and the oldest slot goes when all are taken.
public final class MetricsEndpoint {
    public let address: ListenAddress
    let listener: Int32
    private var connections: [Connection] = []

    static let maximumConnections = 16
    /// A request head larger than this is refused (Prometheus sends ~250 bytes).
    static let requestLimit = 8192
    static let deadlineMilliseconds = 10_000

    private struct Connection {
        var descriptor: Int32
        var request: [UInt8] = []
        /// The whole response, once the request is read; nil while reading.
        var response: [UInt8]?
        var sent = 0
        var deadline: Int
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds and listens; fails at once (the port taken, the address not on this host).
    public init(listening address: ListenAddress) throws(Failure) {
        self.address = address
        let family = address.address.family == .ipv4 ? AF_INET : AF_INET6
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Self.failure("socket", address) }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        guard Self.bind(descriptor, address) == 0, listen(descriptor, 16) == 0 else {
            let failure = Self.failure("listen on", address)
            close(descriptor)
            throw failure
        }
        listener = descriptor
    }

    deinit {
        for connection in connections { close(connection.descriptor) }
        close(listener)
    }

    private static func failure(_ operation: String, _ address: ListenAddress) -> Failure {
        Failure(description: "cannot \(operation) \(address) for /metrics: \(String(cString: strerror(errno)))")
    }

    private static func bind(_ descriptor: Int32, _ address: ListenAddress) -> Int32 {
        let bytes = address.address.bytes
        if address.address.family == .ipv4 {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: bytes) }
            return bind(descriptor, to: socketAddress)
        }
        var socketAddress = sockaddr_in6()
        socketAddress.sin6_family = sa_family_t(AF_INET6)
        socketAddress.sin6_port = address.port.bigEndian
        withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: bytes) }
        return bind(descriptor, to: socketAddress)
    }

    /// bind(2) with a sockaddr_in or sockaddr_in6.
    private static func bind<SocketAddress>(_ descriptor: Int32, to socketAddress: SocketAddress) -> Int32 {
        withUnsafePointer(to: socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<SocketAddress>.size))
            }
        }
    }

    /// What to add to the caller's `poll()`: the listener, then each connection (reading
    /// or writing). Hand the same entries, with their `revents`, to `handle`.
    public func descriptors() -> [pollfd] {
        [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            + connections.map {
                pollfd(fd: $0.descriptor, events: Int16($0.response == nil ? POLLIN : POLLOUT), revents: 0)
            }
    }

    /// Milliseconds until the earliest connection deadline; nil with no connection.
    func millisecondsUntilDeadline(now: Int) -> Int? {
        connections.map(\.deadline).min().map { max(0, $0 - now) }
    }

    /// Serves what `poll()` found ready; `body(path)` makes a response: status and text.
    func handle(_ polled: ArraySlice<pollfd>, now: Int, body: (String) -> (status: Int, text: String)) {
        let ready = Array(polled)
        // Connections first, by position, before accept() adds any.
        var closing = Set<Int32>()
        for (position, entry) in ready.dropFirst().enumerated() where position < connections.count {
            guard connections[position].descriptor == entry.fd else { continue }
            if entry.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0, connections[position].response == nil {
                closing.insert(entry.fd)
            } else if entry.revents & Int16(POLLIN) != 0 {
                if !read(&connections[position], body: body) { closing.insert(entry.fd) }
            } else if entry.revents & Int16(POLLOUT) != 0 {
                if !send(&connections[position]) { closing.insert(entry.fd) }
            }
        }
        for connection in connections where connection.deadline <= now { closing.insert(connection.descriptor) }
        for descriptor in closing { close(descriptor) }
        connections.removeAll { closing.contains($0.descriptor) }
        if let listening = ready.first, listening.revents & Int16(POLLIN) != 0 { accept(now: now) }
    }

    private func accept(now: Int) {
        while true {
            let descriptor = Glibc.accept(listener, nil, nil)
            guard descriptor >= 0 else { return }
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            if connections.count >= Self.maximumConnections {
                close(connections.removeFirst().descriptor)
            }
            connections.append(Connection(descriptor: descriptor, deadline: now + Self.deadlineMilliseconds))
        }
    }

    /// Reads what arrived; once the head is complete, makes the response and starts
    /// sending it. False when the connection should close.
    private func read(_ connection: inout Connection, body: (String) -> (status: Int, text: String)) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(connection.descriptor, $0.baseAddress, $0.count, 0) }
        if count < 0 { return errno == EAGAIN || errno == EINTR }
        guard count > 0 else { return false }
        connection.request += buffer[..<count]
        guard let request = HTTPRequestHead(connection.request) else {
            if connection.request.count > Self.requestLimit {
                connection.response = Self.response(431, "request header fields too large\n", head: false)
                return send(&connection)
            }
            return true
        }
        connection.response = Self.respond(to: request, body: body)
        return send(&connection)
    }

    /// Sends what the socket takes; false once all is sent (or it failed): then close.
    private func send(_ connection: inout Connection) -> Bool {
        guard let response = connection.response else { return true }
        while connection.sent < response.count {
            let sent = response[connection.sent...].withUnsafeBytes {
                Glibc.send(connection.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 { return errno == EAGAIN || errno == EINTR }
            connection.sent += sent
        }
        return false
    }

    static func respond(to request: HTTPRequestHead, body: (String) -> (status: Int, text: String)) -> [UInt8] {
        guard !request.method.isEmpty else { return response(400, "not an HTTP/1.x request\n", head: false) }
        guard request.method == "GET" || request.method == "HEAD" else {
            return response(405, "only GET and HEAD\n", head: false, extra: "Allow: GET, HEAD\r\n")
        }
        let (status, text) = body(request.path)
        return response(status, text, head: request.method == "HEAD")
    }

    static func response(_ status: Int, _ text: String, head: Bool, extra: String = "") -> [UInt8] {
        let reason =
            switch status {
            case 200: "OK"
            case 400: "Bad Request"
            case 404: "Not Found"
            case 405: "Method Not Allowed"
            case 431: "Request Header Fields Too Large"
            default: "Internal Server Error"
            }
        let type = status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8"
        let header =
            "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(text.utf8.count)\r\n"
            + "\(extra)Connection: close\r\n\r\n"
        return Array(header.utf8) + (head ? [] : Array(text.utf8))
    }
}

/// The request line of an HTTP/1.x request whose head is complete (ends in an empty line).
struct HTTPRequestHead: Equatable {
    var method: String
    /// The target without its query.
    var path: String

    init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    init?(_ bytes: [UInt8]) {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4,
            (0...(bytes.count - 4)).contains(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }),
            let lineEnd = bytes.firstIndex(of: 13)
        else { return nil }
        let words = String(decoding: bytes[..<lineEnd], as: UTF8.self).split(separator: " ")
        guard words.count == 3, words[2].hasPrefix("HTTP/1.") else {
            method = ""
            path = ""
            return
        }
        method = String(words[0])
        path = String(words[1].prefix { $0 != "?" })
    }
}

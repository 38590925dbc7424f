import Glibc

/// Why OVSDB did not do what was asked: one line that names ovsdb-server (or
/// ovs-vswitchd) and its socket, because libvirt shows it to whoever ran `virsh start`.
public enum OVSDBError: Error, Equatable, CustomStringConvertible {
    /// Nothing listens on the socket: ovsdb-server is not running there.
    case notRunning(socket: String, errno: Int32)
    /// ovsdb-server accepted the connection but did not answer in time.
    case timedOut(socket: String, milliseconds: Int)
    /// Reading or writing the socket failed.
    case io(socket: String, errno: Int32)
    /// The answer is not what RFC 7047 says it should be.
    case malformed(socket: String, reason: String)
    /// The server refused the transaction ("constraint violation", "referential
    /// integrity violation", ...), with its details.
    case refused(error: String, details: String?)
    /// ovs-vswitchd did not apply a change within the time allowed.
    case switchNotApplying(socket: String, milliseconds: Int)

    public var description: String {
        switch self {
        case .notRunning(let socket, let errno):
            "ovsdb-server is not running: cannot connect to unix:\(socket) (\(String(cString: strerror(errno)))); "
                + "start Open vSwitch (systemctl start openvswitch-switch)"
        case .timedOut(let socket, let milliseconds):
            "ovsdb-server at unix:\(socket) did not answer within \(Self.seconds(milliseconds))"
        case .io(let socket, let errno):
            "ovsdb-server at unix:\(socket): \(String(cString: strerror(errno)))"
        case .malformed(let socket, let reason):
            "ovsdb-server at unix:\(socket) sent an answer that is not OVSDB: \(reason)"
        case .refused(let error, let details):
            "ovsdb-server refused the change: \(error)" + (details.map { " (\($0))" } ?? "")
        case .switchNotApplying(let socket, let milliseconds):
            "ovs-vswitchd did not apply the change within \(Self.seconds(milliseconds)) (ovsdb-server at unix:\(socket)); "
                + "is ovs-vswitchd running? (systemctl status ovs-vswitchd)"
        }
    }

    private static func seconds(_ milliseconds: Int) -> String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }

    /// Whether a retry after reading the database again may succeed: a row another
    /// client made or removed between our read and our write.
    public var isConflict: Bool {
        if case .refused(let error, _) = self {
            return error == "constraint violation" || error == "referential integrity violation"
                || error == "timed out"
        }
        return false
    }
}

/// Where ovsdb-server listens, found as Open vSwitch's own tools find it: `$OVS_RUNDIR/db.sock`,
/// else `/var/run/openvswitch/db.sock`. So a test, or an operator, runs a private Open
/// vSwitch by setting OVS_RUNDIR (libvirt gives its hooks no such variable: production
/// uses the default).
public enum OVSDBSocket {
    public static let defaultRunDirectory = "/var/run/openvswitch"

    public static func path(environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) -> String {
        let directory = environment("OVS_RUNDIR").flatMap { $0.isEmpty ? nil : $0 } ?? defaultRunDirectory
        return directory + "/db.sock"
    }
}

/// A byte stream to ovsdb-server: what `OVSDBClient` needs of a socket, so the tests can
/// hand it a scripted server.
public protocol OVSDBTransport: AnyObject {
    /// The socket's path, for messages.
    var socketPath: String { get }
    /// Sends all of `bytes`, or throws.
    func send(_ bytes: [UInt8], deadline: Deadline) throws(OVSDBError)
    /// Returns whatever arrives next (at least one byte), or throws on end of stream and
    /// when the deadline passes.
    func receive(deadline: Deadline) throws(OVSDBError) -> [UInt8]
}

/// A point in time on the monotonic clock, after which a call gives up.
public struct Deadline: Sendable {
    public var nanoseconds: UInt64
    /// The time allowed, for messages.
    public var milliseconds: Int

    public init(millisecondsFromNow milliseconds: Int) {
        self.milliseconds = milliseconds
        nanoseconds = Self.now() + UInt64(max(0, milliseconds)) * 1_000_000
    }

    /// Milliseconds left, at least 0: poll(2)'s timeout.
    public var remaining: Int32 {
        let now = Self.now()
        guard nanoseconds > now else { return 0 }
        return Int32(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }

    public var hasPassed: Bool { Self.now() >= nanoseconds }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// A unix stream socket connected to ovsdb-server, non-blocking, every wait bounded by a
/// deadline: a stopped or stuck server costs the hook at most its timeout, never hangs
/// libvirt.
public final class UnixSocketTransport: OVSDBTransport {
    public let socketPath: String
    private let descriptor: Int32

    /// Connects to `path`. Refused or missing: `.notRunning`.
    public init(path: String, deadline: Deadline) throws(OVSDBError) {
        socketPath = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .io(socket: path, errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .io(socket: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        // A unix socket connects at once or fails at once (ECONNREFUSED, ENOENT); only
        // a full backlog waits (EAGAIN on a non-blocking socket), which poll bounds.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let error = errno
            switch error {
            case ECONNREFUSED, ENOENT, ENOTDIR:
                close(fd)
                throw .notRunning(socket: path, errno: error)
            case EAGAIN, EINPROGRESS:
                var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&entry, 1, deadline.remaining) == 1 else {
                    close(fd)
                    throw .timedOut(socket: path, milliseconds: deadline.milliseconds)
                }
            default:
                close(fd)
                throw .io(socket: path, errno: error)
            }
        }
        descriptor = fd
    }

    deinit {
        close(descriptor)
    }

    public func send(_ bytes: [UInt8], deadline: Deadline) throws(OVSDBError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                offset += written
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EINTR else { throw .io(socket: socketPath, errno: errno) }
            try wait(for: Int16(POLLOUT), deadline: deadline)
        }
    }

    public func receive(deadline: Deadline) throws(OVSDBError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 { return Array(buffer[0..<count]) }
            if count == 0 { throw .io(socket: socketPath, errno: ECONNRESET) }
            guard errno == EAGAIN || errno == EINTR else { throw .io(socket: socketPath, errno: errno) }
            try wait(for: Int16(POLLIN), deadline: deadline)
        }
    }

    private func wait(for events: Int16, deadline: Deadline) throws(OVSDBError) {
        var entry = pollfd(fd: descriptor, events: events, revents: 0)
        while true {
            let ready = poll(&entry, 1, deadline.remaining)
            if ready > 0 { return }
            if ready == 0 { throw .timedOut(socket: socketPath, milliseconds: deadline.milliseconds) }
            guard errno == EINTR else { throw .io(socket: socketPath, errno: errno) }
        }
    }
}

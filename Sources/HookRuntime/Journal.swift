import CSyslog
import Glibc
import Lifecycle
import VXLANCore

/// Logging to the journal in its native protocol, so that every line carries fields an
/// operator filters on: `journalctl VNI=5001` shows a segment's whole history across the
/// hook, the reaper and the watcher; `journalctl -t libvirt-vxlan -p warning` works as
/// before. Each line is one datagram of `KEY=value` fields (`JournalDatagram`) to
/// journald's socket: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=libvirt-vxlan, the process's
/// own fields (PHASE, DOMAIN or NETWORK) and the event's (MESSAGE_ID, VNI, OUTCOME).
/// Without journald (the socket absent: a host without systemd, a test sandbox) a line
/// goes to syslog as before, without the fields.
public struct Journal: LifecycleLog, Sendable {
    /// syslog keeps the pointer it is given, so the tag lives in static storage.
    private static let tag: StaticString = "libvirt-vxlan"
    static let socketPath = "/run/systemd/journal/socket"
    /// Another socket than journald's (tests: a datagram socket of their own).
    static let socketVariable = "LIBVIRT_VXLAN_JOURNAL_SOCKET"

    /// Also print each line on stderr (tests, manual runs).
    public var echo: Bool
    /// PHASE, on every line of this process: the hook's libvirt operation word (as the
    /// metrics' `phase` label), `watch`, `reap`.
    public var phase: String?
    /// DOMAIN= or NETWORK=, on every line of this process: what the hook was called for.
    public var subject: Subject?
    /// journald's socket, or the one `LIBVIRT_VXLAN_JOURNAL_SOCKET` names.
    var destination: String {
        didSet { journald = access(destination, W_OK) == 0 }
    }
    /// Whether journald's socket is there, looked at once: without it, no datagram is built.
    private var journald: Bool

    public enum Subject: Sendable {
        case domain(String)
        case network(String)
    }

    public init(echo: Bool = false, phase: String? = nil, subject: Subject? = nil) {
        self.echo = echo
        self.phase = phase
        self.subject = subject
        destination = getenv(Self.socketVariable).map { String(cString: $0) } ?? Self.socketPath
        journald = access(destination, W_OK) == 0
        // The tag, the pid in each line and the facility.
        openlog(UnsafeRawPointer(Self.tag.utf8Start).assumingMemoryBound(to: CChar.self), LOG_PID, LOG_DAEMON)
    }

    public func log(_ level: LogLevel, _ message: String) {
        write(level, message, event: nil)
    }

    public func log(_ level: LogLevel, _ message: String, _ event: LogEvent) {
        write(level, message, event: event)
    }

    private func write(_ level: LogLevel, _ message: String, event: LogEvent?) {
        defer { if echo { writeStandardError("libvirt-vxlan: \(message)\n") } }
        guard journald else { return libvirt_vxlan_syslog(level.priority, message) }
        var entry = JournalDatagram()
        entry.append("MESSAGE", message)
        entry.append("PRIORITY", level.priorityDigit)
        entry.append("SYSLOG_IDENTIFIER", "libvirt-vxlan")
        entry.append("SYSLOG_FACILITY", "3")
        if let phase { entry.append("PHASE", phase) }
        switch subject {
        case .domain(let name)?: entry.append("DOMAIN", name)
        case .network(let name)?: entry.append("NETWORK", name)
        case nil: break
        }
        if let event {
            entry.append("MESSAGE_ID", event.kind.messageID)
            if let vni = event.vni { entry.append("VNI", vni.description) }
            if let outcome = event.outcome { entry.append("OUTCOME", outcome) }
        }
        if !Self.send(entry.bytes, to: destination) { libvirt_vxlan_syslog(level.priority, message) }
    }

    /// One datagram to journald; false when it could not be sent (no journald: the
    /// caller falls back to syslog). A socket per line: nothing to keep across the
    /// reaper's fork, and a hook logs a line or two.
    static func send(_ datagram: [UInt8], to path: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let sent = datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(
                        descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0,
                        socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        return sent == datagram.count
    }
}

extension LogLevel {
    /// The priority as journald's PRIORITY field writes it.
    var priorityDigit: String {
        switch self {
        case .error: "3"
        case .warning: "4"
        case .notice: "5"
        case .info: "6"
        case .debug: "7"
        }
    }

    var priority: Int32 {
        switch self {
        case .error: LOG_ERR
        case .warning: LOG_WARNING
        case .notice: LOG_NOTICE
        case .info: LOG_INFO
        case .debug: LOG_DEBUG
        }
    }
}

/// Writes to stderr without Foundation. libvirt shows a failing hook's stderr to the
/// person who ran the command, so the hook writes there only its one-line error.
public func writeStandardError(_ text: String) {
    write(text, to: STDERR_FILENO)
}

/// Writes all of `text` to `descriptor` (a pipe takes it in pieces), without Foundation.
func write(_ text: String, to descriptor: Int32) {
    var text = text
    text.withUTF8 { bytes in
        var rest = UnsafeRawBufferPointer(bytes)
        while let start = rest.baseAddress, !rest.isEmpty {
            let written = Glibc.write(descriptor, start, rest.count)
            guard written > 0 || (written < 0 && errno == EINTR) else { return }
            rest = UnsafeRawBufferPointer(rebasing: rest[max(written, 0)...])
        }
    }
}

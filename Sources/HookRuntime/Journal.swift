import CSyslog
import Glibc
import Lifecycle

/// Logging to syslog, which journald collects: `journalctl -t libvirt-vxlan`. Every line
/// names the phase, the guest or network, and the VNI, so an operator can grep or filter
/// by priority (`journalctl -t libvirt-vxlan -p warning`).
public struct Journal: LifecycleLog, Sendable {
    /// syslog keeps the pointer it is given, so the tag lives in static storage.
    private static let tag: StaticString = "libvirt-vxlan"

    /// Also print each line on stderr (tests, manual runs).
    public var echo: Bool

    public init(echo: Bool = false) {
        self.echo = echo
        // The tag, the pid in each line and the facility.
        openlog(UnsafeRawPointer(Self.tag.utf8Start).assumingMemoryBound(to: CChar.self), LOG_PID, LOG_DAEMON)
    }

    public func log(_ level: LogLevel, _ message: String) {
        libvirt_vxlan_syslog(level.priority, message)
        if echo { writeStandardError("libvirt-vxlan: \(message)\n") }
    }
}

extension LogLevel {
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

import CSyslog
import Glibc

/// Logging to syslog, which journald collects: `journalctl -t libvirt-vxlan`. Every line
/// names the phase, the guest or network, and the VNI, so an operator can grep or filter
/// by priority (`journalctl -t libvirt-vxlan -p warning`).
public struct Journal: Sendable {
    public enum Level: Sendable {
        case error, warning, notice, info, debug

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

    /// Also print each line on stderr (tests, manual runs).
    public var echo: Bool

    public init(echo: Bool = false) {
        self.echo = echo
        openlog("libvirt-vxlan", LOG_PID, LOG_DAEMON)
    }

    public func log(_ level: Level, _ message: String) {
        libvirt_vxlan_syslog(level.priority, message)
        if echo { writeStandardError("libvirt-vxlan: \(message)\n") }
    }
}

/// Writes to stderr without Foundation. libvirt shows a failing hook's stderr to the
/// person who ran the command, so the hook writes there only its one-line error.
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

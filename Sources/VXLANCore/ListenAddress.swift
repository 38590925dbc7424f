/// Where the watcher serves `/metrics`: an IP literal and a port, as an operator writes
/// it (`127.0.0.1:9470`, `[::1]:9470`, `192.0.2.11:9470`). No host names: the watcher
/// resolves nothing, and a name could change what it listens on behind the operator.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init?(_ text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let address = IPAddress(host), !address.isMulticast,
            let number = parseDecimal(port, saturatingAt: 65_536), (1...65_535).contains(number)
        else { return nil }
        self.init(address: address, port: UInt16(number))
    }

    public var description: String {
        address.family == .ipv6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// 127.0.0.0/8 or ::1: reachable from this host only.
    public var isLoopback: Bool {
        address.family == .ipv4 ? address.bytes[0] == 127 : address.bytes == [UInt8](repeating: 0, count: 15) + [1]
    }
}

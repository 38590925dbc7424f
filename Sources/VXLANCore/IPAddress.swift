/// An IPv4 or IPv6 address, parsed and printed without the C library, so that the
/// plan can be computed and tested anywhere.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    public enum Family: String, Sendable {
        case ipv4, ipv6
    }

    public var family: Family {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    public var bitWidth: Int { family == .ipv4 ? 32 : 128 }

    /// Network byte order, as netlink wants it.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value):
            (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let high, let low):
            (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        }
    }

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(high: high, low: low)
        default:
            return nil
        }
    }

    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let groups = Self.parseIPv6Groups(text) else { return nil }
            let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
            let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
            self = .v6(high: high, low: low)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var value: UInt32 = 0
            for part in parts {
                guard let octet = parseDecimal(part, saturatingAt: 256), octet < 256 else { return nil }
                value = value << 8 | UInt32(octet)
            }
            self = .v4(value)
        }
    }

    private static func parseIPv6Groups(_ text: some StringProtocol) -> [UInt16]? {
        func hexGroups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var groups: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(piece.count), let group = UInt16(piece, radix: 16),
                    piece.allSatisfy(\.isHexDigit)
                else { return nil }
                groups.append(group)
            }
            return groups
        }
        let halves = text.split(separator: "::", maxSplits: 2, omittingEmptySubsequences: false)
        switch halves.count {
        case 1:
            guard let groups = hexGroups(Substring(text)), groups.count == 8 else { return nil }
            return groups
        case 2:
            guard let head = hexGroups(Substring(halves[0])), let tail = hexGroups(Substring(halves[1])),
                head.count + tail.count <= 7
            else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        default:
            return nil
        }
    }

    public var isMulticast: Bool {
        switch self {
        case .v4(let value): value >> 28 == 0xE
        case .v6(let high, _): high >> 56 == 0xFF
        }
    }

    /// RFC 5952 text: lower-case hex, the longest run of zero groups compressed.
    public var description: String {
        switch self {
        case .v4:
            return bytes.map(String.init).joined(separator: ".")
        case .v6:
            let raw = bytes
            let groups = (0..<8).map { UInt16(raw[2 * $0]) << 8 | UInt16(raw[2 * $0 + 1]) }
            var best = (start: -1, length: 0)
            var index = 0
            while index < 8 {
                var end = index
                while end < 8, groups[end] == 0 { end += 1 }
                if end - index > best.length, end - index > 1 { best = (index, end - index) }
                index = max(end, index + 1)
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.start >= 0 else { return hex.joined(separator: ":") }
            let head = hex[..<best.start].joined(separator: ":")
            let tail = hex[(best.start + best.length)...].joined(separator: ":")
            return head + "::" + tail
        }
    }
}

/// An address with a prefix length, such as `239.1.0.0/16` or `ff05::100:0/104`.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]),
            let length = parseDecimal(parts[1], saturatingAt: 129), length <= address.bitWidth
        else { return nil }
        self.address = address
        self.prefixLength = Int(length)
    }

    init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// Whether `address` lies inside the network (same family, same leading prefix bits).
    public func contains(_ other: IPAddress) -> Bool {
        other.family == address.family && IPNetwork(containing: other, prefixLength: prefixLength) == canonical
    }

    /// The network with its host bits cleared: 192.0.2.7/24 gives 192.0.2.0/24.
    public var canonical: IPNetwork { IPNetwork(address: address(at: 0), prefixLength: prefixLength) }

    /// Number of host bits, i.e. how many low bits of an address this network leaves free.
    public var hostBits: Int { address.bitWidth - prefixLength }

    /// The address at offset `offset` inside the network (offset reduced modulo its size).
    public func address(at offset: UInt32) -> IPAddress {
        let bits = min(hostBits, 32)
        let reduced = bits >= 32 ? UInt64(offset) : UInt64(offset) & ((1 << UInt64(bits)) - 1)
        switch address {
        case .v4(let base):
            let mask: UInt32 = hostBits >= 32 ? 0 : ~0 << UInt32(hostBits)
            return .v4(base & mask | UInt32(reduced))
        case .v6(let high, let low):
            let lowMask: UInt64 = hostBits >= 64 ? 0 : ~0 << UInt64(hostBits)
            let highMask: UInt64 = hostBits > 64 ? ~0 << UInt64(hostBits - 64) : ~0
            return .v6(high: high & highMask, low: low & lowMask | reduced)
        }
    }
}

import VXLANCore

/// ICMP and ICMPv6 echo messages as bytes: the requests the prober sends and the replies
/// it recognises. Pure, so the encoding is tested without a socket.
public enum ICMPEcho {
    /// Echo request / reply types: ICMP (RFC 792) and ICMPv6 (RFC 4443).
    static func requestType(_ family: IPAddress.Family) -> UInt8 { family == .ipv4 ? 8 : 128 }
    static func replyType(_ family: IPAddress.Family) -> UInt8 { family == .ipv4 ? 0 : 129 }

    /// The IP header the kernel puts in front of what a socket sends (no options).
    public static func ipHeaderSize(_ family: IPAddress.Family) -> Int { family == .ipv4 ? 20 : 40 }
    public static let headerSize = 8

    /// An echo request that makes an IP packet of `packetSize` bytes. ICMPv6's checksum
    /// covers a pseudo-header the kernel knows and fills in; ICMP's is ours.
    public static func request(family: IPAddress.Family, identifier: UInt16, sequence: UInt16, packetSize: Int)
        -> [UInt8]
    {
        let dataSize = max(0, packetSize - ipHeaderSize(family) - headerSize)
        var message: [UInt8] = [requestType(family), 0, 0, 0]
        message += [UInt8(identifier >> 8), UInt8(identifier & 0xFF), UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        // A pattern rather than zeros: a path that compresses or mangles data shows.
        message += (0..<dataSize).map { UInt8(truncatingIfNeeded: $0) }
        if family == .ipv4 {
            let sum = checksum(message)
            message[2] = UInt8(sum >> 8)
            message[3] = UInt8(sum & 0xFF)
        }
        return message
    }

    /// The Internet checksum (RFC 1071): one's complement of the one's complement sum.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// The identifier and sequence of an echo message of type `type` at the start of
    /// `message`, or nil when it is something else.
    public static func header(of message: some Collection<UInt8>, type: UInt8) -> (
        identifier: UInt16, sequence: UInt16
    )? {
        let bytes = Array(message.prefix(headerSize))
        guard bytes.count == headerSize, bytes[0] == type, bytes[1] == 0 else { return nil }
        return (UInt16(bytes[4]) << 8 | UInt16(bytes[5]), UInt16(bytes[6]) << 8 | UInt16(bytes[7]))
    }

    /// The ICMP message of an IPv4 packet as a raw socket receives it (IP header first).
    public static func payload(ofIPv4 packet: [UInt8]) -> ArraySlice<UInt8> {
        guard let first = packet.first, first >> 4 == 4 else { return [] }
        return packet.dropFirst(Int(first & 0x0F) * 4)
    }

    /// Which peer and which probe a sequence number stands for: two per peer.
    public static func sequence(peer: Int, kind: ProbeKind) -> UInt16 { UInt16(peer * 2 + kind.rawValue) }

    public static func probe(ofSequence sequence: UInt16) -> (peer: Int, kind: ProbeKind) {
        (Int(sequence / 2), sequence % 2 == 0 ? .small : .full)
    }

    /// Sequence numbers are 16 bits, two per peer.
    public static let maximumPeers = 32_768
}

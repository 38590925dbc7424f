import Glibc
import VXLANCore

/// Why the probe could not run at all (one line for the operator).
public struct ProbeError: Error, CustomStringConvertible, Equatable {
    public var description: String

    init(_ operation: String, errno code: Int32) {
        description = "\(operation): \(String(cString: strerror(code)))"
    }

    init(_ description: String) { self.description = description }
}

// Linux options Glibc's headers leave out (linux/icmp.h, linux/icmpv6.h, linux/errqueue.h).
private let icmpFilter: Int32 = 1  // ICMP_FILTER at SOL_RAW
private let icmp6Filter: Int32 = 1  // ICMP6_FILTER at IPPROTO_ICMPV6
private let solRaw: Int32 = 255  // SOL_RAW
private let originLocal: UInt8 = 1  // SO_EE_ORIGIN_LOCAL
private let originICMP: UInt8 = 2  // SO_EE_ORIGIN_ICMP
private let originICMP6: UInt8 = 3  // SO_EE_ORIGIN_ICMP6

/// One ICMP echo socket of one family: a raw socket as root, else an ICMP datagram
/// ("ping") socket where `net.ipv4.ping_group_range` allows it. Don't-fragment is set
/// and the kernel's cached path MTU ignored (`IP_PMTUDISC_PROBE`), so every probe
/// tests the path as it is now; ICMP errors about our probes, and this host's own
/// "message too long", come back through the error queue (`IP_RECVERR`).
final class EchoSocket {
    let family: IPAddress.Family
    let descriptor: Int32
    /// A raw IPv4 socket receives the IP header too, and the kernel keeps our identifier
    /// (a datagram socket replaces it with its own, and only delivers its own replies).
    private let isRaw: Bool
    let identifier = UInt16(truncatingIfNeeded: getpid())

    init(family: IPAddress.Family, source: IPAddress?) throws(ProbeError) {
        self.family = family
        let domain = family == .ipv4 ? AF_INET : AF_INET6
        let proto = Int32(family == .ipv4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        var descriptor = socket(domain, Int32(SOCK_RAW.rawValue) | flags, proto)
        isRaw = descriptor >= 0
        if descriptor < 0 { descriptor = socket(domain, Int32(SOCK_DGRAM.rawValue) | flags, proto) }
        guard descriptor >= 0 else {
            throw ProbeError(
                "no ICMP socket (run as root, or let your group open ping sockets: net.ipv4.ping_group_range)",
                errno: errno)
        }
        self.descriptor = descriptor
        do {
            try configure(source: source)
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    private func configure(source: IPAddress?) throws(ProbeError) {
        if family == .ipv4 {
            try set(Int32(IPPROTO_IP), IP_MTU_DISCOVER, Int32(IP_PMTUDISC_PROBE), "IP_MTU_DISCOVER")
            try set(Int32(IPPROTO_IP), IP_RECVERR, 1, "IP_RECVERR")
            // Only echo replies: a raw socket otherwise gets a copy of every ICMP message.
            if isRaw { try set(solRaw, icmpFilter, ~(UInt32(1) << ICMPEcho.replyType(.ipv4)), "ICMP_FILTER") }
        } else {
            try set(Int32(IPPROTO_IPV6), IPV6_MTU_DISCOVER, Int32(IPV6_PMTUDISC_PROBE), "IPV6_MTU_DISCOVER")
            try set(Int32(IPPROTO_IPV6), IPV6_RECVERR, 1, "IPV6_RECVERR")
            if isRaw {
                var blocked = [UInt32](repeating: ~0, count: 8)
                let reply = Int(ICMPEcho.replyType(.ipv6))
                blocked[reply >> 5] &= ~(UInt32(1) << (reply & 31))
                try set(Int32(IPPROTO_ICMPV6), icmp6Filter, blocked, "ICMP6_FILTER")
            }
        }
        // Every peer's full-size reply may arrive while we are still sending: room for
        // hundreds of jumbo frames (root may exceed net.core.rmem_max; others get the cap).
        let buffer: Int32 = 16 << 20
        for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
            if (try? set(SOL_SOCKET, force, buffer, "buffer size")) == nil {
                try? set(SOL_SOCKET, plain, buffer, "buffer size")
            }
        }
        guard let source else { return }
        let bound = withSocketAddress(source) { bind(descriptor, $0, $1) }
        guard bound == 0 else { throw ProbeError("cannot send from \(source)", errno: errno) }
    }

    private func set(_ level: Int32, _ option: Int32, _ value: some FixedWidthInteger, _ name: String)
        throws(ProbeError)
    {
        try set(level, option, [value], name)
    }

    private func set(_ level: Int32, _ option: Int32, _ values: [some FixedWidthInteger], _ name: String)
        throws(ProbeError)
    {
        let result = values.withUnsafeBytes {
            setsockopt(descriptor, level, option, $0.baseAddress, socklen_t($0.count))
        }
        guard result == 0 else { throw ProbeError("setsockopt \(name)", errno: errno) }
    }

    /// Sends one echo request of `packetSize` bytes. Returns the event an immediate
    /// failure stands for, or nil (sent, or worth retrying later: a full send buffer; a
    /// size over this host's MTU, whose number the error queue brings).
    func send(to peer: IPAddress, sequence: UInt16, packetSize: Int) -> ProbeEvent? {
        let message = ICMPEcho.request(
            family: family, identifier: identifier, sequence: sequence, packetSize: packetSize)
        let sent = message.withUnsafeBytes { bytes in
            withSocketAddress(peer) { sendto(descriptor, bytes.baseAddress, bytes.count, 0, $0, $1) }
        }
        guard sent < 0 else { return nil }
        switch errno {
        case EAGAIN, ENOBUFS, EINTR, EMSGSIZE: return nil
        case let code: return .unreachable(String(cString: strerror(code)))
        }
    }

    /// Every echo reply waiting: who answered, and which probe it answers.
    func receiveReplies() -> [(peer: IPAddress, sequence: UInt16)] {
        var replies: [(IPAddress, UInt16)] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var failures = 0
        while failures < 16 {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(descriptor, bytes.baseAddress, bytes.count, 0, $0, &length)
                    }
                }
            }
            // EAGAIN: drained. Any other error is a pending ICMP error the kernel reports
            // once here too (its details are in the error queue): read on.
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                failures += 1
                continue
            }
            let packet = Array(buffer[..<count])
            let message = isRaw && family == .ipv4 ? ICMPEcho.payload(ofIPv4: packet) : packet[...]
            guard let header = ICMPEcho.header(of: message, type: ICMPEcho.replyType(family)),
                !isRaw || header.identifier == identifier, let peer = IPAddress(socketAddress: address)
            else { continue }
            replies.append((peer, header.sequence))
        }
        return replies
    }

    /// Every error waiting in the error queue: the peer the failed probe was sent to,
    /// its sequence number when the error quoted it, and what the error means.
    func receiveErrors() -> [(peer: IPAddress, sequence: UInt16?, event: ProbeEvent)] {
        var errors: [(IPAddress, UInt16?, ProbeEvent)] = []
        var data = [UInt8](repeating: 0, count: 256)
        var control = [UInt8](repeating: 0, count: 512)
        while true {
            var address = sockaddr_storage()
            let (count, controlCount) = data.withUnsafeMutableBytes { dataBytes in
                control.withUnsafeMutableBytes { controlBytes in
                    withUnsafeMutablePointer(to: &address) { addressPointer in
                        var vector = iovec(iov_base: dataBytes.baseAddress, iov_len: dataBytes.count)
                        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                            var header = msghdr()
                            header.msg_name = UnsafeMutableRawPointer(addressPointer)
                            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                            header.msg_iov = vectorPointer
                            header.msg_iovlen = 1
                            header.msg_control = controlBytes.baseAddress
                            header.msg_controllen = controlBytes.count
                            let count = recvmsg(descriptor, &header, Int32(MSG_ERRQUEUE))
                            return (count, Int(header.msg_controllen))
                        }
                    }
                }
            }
            guard count >= 0 else { break }
            guard let peer = IPAddress(socketAddress: address),
                let event = ExtendedError.first(in: Array(control[..<controlCount]))?.event
            else { continue }
            let quoted = ICMPEcho.header(of: data[..<count], type: ICMPEcho.requestType(family))
            errors.append((peer, quoted?.sequence, event))
        }
        return errors
    }
}

/// `struct sock_extended_err` and the offender address after it (linux/errqueue.h),
/// from the control messages of an error-queue read.
struct ExtendedError: Equatable {
    var errno: UInt32
    var origin: UInt8
    var type: UInt8
    var code: UInt8
    var info: UInt32
    var offender: IPAddress?

    /// The first IP_RECVERR / IPV6_RECVERR control message in `control`, laid out as
    /// `struct cmsghdr`s: length (size_t), level, type, then data, each padded to size_t.
    static func first(in control: [UInt8]) -> ExtendedError? {
        let word = MemoryLayout<Int>.size
        let headerSize = word + 8
        var offset = 0
        while offset + headerSize <= control.count {
            let length = Int(control.loadNative(UInt64.self, at: offset))
            let level = control.loadNative(Int32.self, at: offset + word)
            let type = control.loadNative(Int32.self, at: offset + word + 4)
            guard length >= headerSize, offset + length <= control.count else { return nil }
            if (level == IPPROTO_IP && type == IP_RECVERR) || (level == IPPROTO_IPV6 && type == IPV6_RECVERR) {
                return ExtendedError(Array(control[(offset + headerSize)..<(offset + length)]))
            }
            offset += (length + word - 1) / word * word
        }
        return nil
    }

    init?(_ data: [UInt8]) {
        guard data.count >= 16 else { return nil }
        errno = data.loadNative(UInt32.self, at: 0)
        origin = data[4]
        type = data[5]
        code = data[6]
        info = data.loadNative(UInt32.self, at: 8)
        offender = data.count >= 16 + 2 ? IPAddress(socketAddressBytes: Array(data[16...])) : nil
    }

    /// What the error says about the probe.
    var event: ProbeEvent? {
        let tooBig =
            errno == EMSGSIZE
            && (origin == originLocal || (origin == originICMP && type == 3 && code == 4)
                || (origin == originICMP6 && type == 2))
        // A router that says "fragmentation needed" without an MTU (pre-RFC 1191) tells
        // us nothing we can act on: the verdict falls back to what the echoes showed.
        if tooBig { return info > 0 ? .tooBig(mtu: Int(info), reporter: offender) : nil }
        guard origin == originICMP || origin == originICMP6 || origin == originLocal else { return nil }
        let reason = String(cString: strerror(Int32(errno)))
        return .unreachable(offender.map { "\(reason) (ICMP from \($0))" } ?? reason)
    }
}

extension [UInt8] {
    fileprivate func loadNative<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}

extension IPAddress {
    /// From a `sockaddr_in` / `sockaddr_in6`; nil for any other family.
    init?(socketAddress: sockaddr_storage) {
        var copy = socketAddress
        let bytes = withUnsafeBytes(of: &copy) { Array($0) }
        self.init(socketAddressBytes: bytes)
    }

    init?(socketAddressBytes bytes: [UInt8]) {
        guard bytes.count >= 2 else { return nil }
        let family = Int32(bytes.loadNative(UInt16.self, at: 0))
        if family == AF_INET, bytes.count >= 8 {
            self.init(bytes: Array(bytes[4..<8]))
        } else if family == AF_INET6, bytes.count >= 24 {
            self.init(bytes: Array(bytes[8..<24]))
        } else {
            return nil
        }
    }
}

/// Calls `body` with `address` as a `sockaddr_in` or `sockaddr_in6` and its length.
func withSocketAddress<Result>(_ address: IPAddress, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
    switch address.family {
    case .ipv4:
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: address.bytes) }
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    case .ipv6:
        var socketAddress = sockaddr_in6()
        socketAddress.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: address.bytes) }
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
    }
}

import CNetlink
import Glibc
import VXLANCore

/// The kernel's notifications about links and addresses (`ip monitor link address`): a
/// netlink socket bound to the rtnetlink multicast groups, read without blocking. The
/// watcher only needs to know *that* something changed, never what: it then checks every
/// segment in use against one dump, which also covers what a lost notification said.
public final class LinkEvents {
    /// The socket to `poll()` for POLLIN.
    public let descriptor: Int32

    /// What one `drain()` found.
    public struct Batch: Equatable, Sendable {
        /// Notifications read.
        public var count = 0
        /// The socket's buffer overflowed (ENOBUFS): notifications were lost, and only a
        /// full check of every segment is safe.
        public var overrun = false

        public init(count: Int = 0, overrun: Bool = false) {
            self.count = count
            self.overrun = overrun
        }
    }

    /// Groups RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, in this process's
    /// network namespace. `receiveBuffer` bytes of kernel buffer (SO_RCVBUFFORCE as root,
    /// else what rmem_max allows): an underlay flap with thousands of VNIs sends a few
    /// messages per device at once.
    public init(receiveBuffer: Int32 = 8 << 20) throws(KernelError) {
        descriptor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard descriptor >= 0 else { throw Self.failure("socket(AF_NETLINK)") }
        var size = receiveBuffer
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &size, length) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, length)
        }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = UInt32(RTMGRP_LINK) | UInt32(RTMGRP_IPV4_IFADDR) | UInt32(RTMGRP_IPV6_IFADDR)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
            }
        }
        guard bound == 0 else {
            let error = Self.failure("bind rtnetlink groups link, ipv4 ifaddr, ipv6 ifaddr")
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Reads every notification queued now, without waiting.
    public func drain() throws(KernelError) -> Batch {
        var batch = Batch()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let received = buffer.withUnsafeMutableBytes {
                recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
            }
            if received > 0 {
                batch.count += Self.messageCount(buffer[..<received])
                continue
            }
            switch errno {
            case EAGAIN: return batch
            case EINTR: continue
            case ENOBUFS: batch.overrun = true
            default: throw Self.failure("recv rtnetlink notifications")
            }
        }
    }

    /// The netlink messages in one datagram, each `nlmsg_len` long.
    static func messageCount(_ datagram: ArraySlice<UInt8>) -> Int {
        var count = 0
        var offset = datagram.startIndex
        let header = MemoryLayout<nlmsghdr>.size
        while datagram.endIndex - offset >= header {
            let length = Int(datagram[offset...].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
            guard length >= header else { break }
            count += 1
            offset += (length + 3) & ~3
        }
        return count
    }

    private static func failure(_ operation: String, errno code: Int32 = Glibc.errno) -> KernelError {
        KernelError(
            operation: operation, code: NLE_FAILURE, errno: code, kernelMessage: String(cString: strerror(code)))
    }
}

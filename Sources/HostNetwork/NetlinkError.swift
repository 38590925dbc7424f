import CNetlink
import Glibc

/// A failed netlink request: what we asked, libnl's code, and what the kernel said.
public struct NetlinkError: Error, Equatable, CustomStringConvertible {
    /// What we were doing, in iproute2 words: "ip link add vxlan5001 type vxlan".
    public var operation: String
    /// libnl's (positive) NLE_* code.
    public var code: Int32
    /// The kernel's errno, when the kernel answered (0 when the failure was local).
    public var errno: Int32
    /// The kernel's extended ack message, when it gave one.
    public var kernelMessage: String

    public var description: String {
        var text = "\(operation): \(String(cString: nl_geterror(code)))"
        if errno != 0 { text += " (errno \(errno))" }
        if !kernelMessage.isEmpty { text += ": \(kernelMessage)" }
        return text
    }

    /// The kernel said "no such device": a lookup miss, not a failure.
    public var isNoSuchDevice: Bool { errno == ENODEV || code == NLE_NODEV || code == NLE_OBJ_NOTFOUND }
}

import CNetlink
import Glibc
import VXLANCore

extension KernelError {
    /// A failed netlink request, worded by libnl (`nl_geterror`).
    init(operation: String, code: Int32, errno: Int32, kernelMessage: String) {
        self.init(
            operation: operation, reason: String(cString: nl_geterror(code)), code: code, errno: errno,
            kernelMessage: kernelMessage)
    }

    /// The kernel said "no such device": a lookup miss, not a failure.
    var isNoSuchDevice: Bool { errno == ENODEV || code == NLE_NODEV || code == NLE_OBJ_NOTFOUND }
}

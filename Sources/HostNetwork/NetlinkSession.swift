import CNetlink
import Glibc
import VXLANCore

/// One rtnetlink socket through libnl, optionally opened inside another network
/// namespace (tests, `vxlanctl check`). Every request goes through `request(_:_:)` or
/// `dump(_:cache:_:)`, which turn libnl's negative NLE codes and the kernel's errno and
/// extended ack into one `KernelError`.
public final class NetlinkSession {
    let socket: OpaquePointer
    private let kernelError: UnsafeMutablePointer<lvx_kernel_error>
    /// Called after every change the kernel acknowledged (a link added, set or deleted,
    /// an fdb entry added or removed): the debug builds' crash points hang on it.
    public var changeSucceeded: (() -> Void)?

    /// - Parameter namespacePath: a network namespace file such as `/run/netns/NAME`;
    ///   nil for the namespace this process runs in.
    public init(namespacePath: String? = nil) throws(KernelError) {
        guard let socket = nl_socket_alloc() else {
            throw KernelError(operation: "netlink socket", code: NLE_NOMEM, errno: 0, kernelMessage: "")
        }
        self.socket = socket
        kernelError = .allocate(capacity: 1)
        kernelError.initialize(to: lvx_kernel_error())
        do {
            try Self.withNamespace(namespacePath) { () throws(KernelError) in
                try check("netlink connect", nl_connect(socket, NETLINK_ROUTE))
            }
            try check("netlink socket options", lvx_socket_prepare(socket, kernelError))
        } catch {
            nl_socket_free(socket)
            kernelError.deallocate()
            throw error
        }
    }

    deinit {
        nl_socket_free(socket)
        kernelError.deallocate()
    }

    /// Runs `body` with this thread in the namespace at `path`, then moves it back. A
    /// socket made inside stays in that namespace for its whole life.
    private static func withNamespace(
        _ path: String?, _ body: () throws(KernelError) -> Void
    ) throws(KernelError) {
        guard let path else { return try body() }
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open(path, O_RDONLY | O_CLOEXEC)
        defer {
            if original >= 0 { close(original) }
            if target >= 0 { close(target) }
        }
        guard original >= 0, target >= 0, lvx_enter_network_namespace(target) == 0 else {
            throw KernelError(
                operation: "enter network namespace \(path)", code: NLE_NOACCESS, errno: Glibc.errno,
                kernelMessage: String(cString: strerror(Glibc.errno)))
        }
        // Returning to our own namespace cannot fail short of a kernel bug; if it did,
        // this thread would act on the wrong host, so stop rather than go on.
        defer { precondition(lvx_enter_network_namespace(original) == 0, "cannot return to own network namespace") }
        try body()
    }

    /// Sends a change request and waits for the kernel's ack.
    func request(_ operation: @autoclosure () -> String, _ message: NetlinkMessage) throws(KernelError) {
        kernelError.pointee = lvx_kernel_error()
        // nl_send_sync frees the message whatever happens.
        let result = nl_send_sync(socket, message.take())
        try check(operation(), result)
        changeSucceeded?()
    }

    /// Runs a libnl call that talks to the kernel (rtnl_link_add, rtnl_link_get_kernel...)
    /// and returns its non-negative result.
    @discardableResult
    func call(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(KernelError) -> Int32 {
        kernelError.pointee = lvx_kernel_error()
        let result = body()
        try check(operation(), result)
        return result
    }

    /// Sends a dump request and parses every answer into a fresh cache of `cacheName`
    /// ("route/link", "route/addr", "route/neigh"), then calls `visit` for each object.
    func dump(
        _ operation: @autoclosure () -> String, _ message: NetlinkMessage, cache cacheName: String,
        _ visit: (OpaquePointer) throws(KernelError) -> Void
    ) throws(KernelError) {
        var cache: OpaquePointer?
        try check("libnl cache \(cacheName)", nl_cache_alloc_name(cacheName, &cache))
        guard let cache else { return }
        defer { nl_cache_free(cache) }
        let raw = message.take()
        defer { nlmsg_free(raw) }
        // A dump the kernel interrupted (links changed while it ran: an underlay flap
        // deletes thousands at once) is complete but inconsistent: ask again, a few times.
        for attempt in 1...5 {
            kernelError.pointee = lvx_kernel_error()
            nlmsg_hdr(raw).pointee.nlmsg_seq = 0  // NL_AUTO_SEQ: a fresh sequence number
            try check(operation(), nl_send_auto(socket, raw))
            let picked = nl_cache_pickup(socket, cache)
            guard picked == -NLE_DUMP_INTR, attempt < 5 else {
                try check(operation(), picked)
                break
            }
            nl_cache_clear(cache)
        }
        var object = nl_cache_get_first(cache)
        while let current = object {
            try visit(current)
            object = nl_cache_get_next(current)
        }
    }

    private func check(_ operation: @autoclosure () -> String, _ result: Int32) throws(KernelError) {
        guard result < 0 else { return }
        throw KernelError(
            operation: operation(), code: -result, errno: Int32(kernelError.pointee.error),
            kernelMessage: withUnsafeBytes(of: kernelError.pointee.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            })
    }
}

private func check(_ operation: String, _ result: Int32) throws(KernelError) {
    guard result < 0 else { return }
    throw KernelError(operation: operation, code: -result, errno: 0, kernelMessage: "")
}

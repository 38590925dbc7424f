import CLibvirt
import Glibc

/// A failed libvirt call: what we asked and libvirt's own message (virGetLastError).
public struct LibvirtError: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var message: String
    /// virErrorNumber, e.g. VIR_ERR_NO_NETWORK.
    public var code: Int32

    public var description: String { "\(operation): \(message)" }

    public var isNoNetwork: Bool { code == Int32(VIR_ERR_NO_NETWORK.rawValue) }

    /// The error libvirt recorded for this thread, cleared afterwards.
    static func last(_ operation: String) -> LibvirtError {
        defer { virResetLastError() }
        guard let error = virGetLastError() else {
            return LibvirtError(operation: operation, message: "unknown libvirt error", code: 0)
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown libvirt error"
        return LibvirtError(operation: operation, message: message, code: error.pointee.code)
    }
}

/// libvirt prints every error to stderr by default; we report them ourselves, once.
private func silenceDefaultErrorPrinting() {
    virSetErrorFunc(nil) { _, _ in }
}

/// A connection to a libvirt daemon (`qemu:///system`) or an in-process driver
/// (`test:///default`, for tests). Closed when released.
public final class LibvirtConnection {
    let connection: OpaquePointer

    /// `--connect`, else `LIBVIRT_DEFAULT_URI`, else `qemu:///system` (libvirt's own rule).
    public init(uri: String?) throws(LibvirtError) {
        silenceDefaultErrorPrinting()
        guard let connection = virConnectOpen(uri) else {
            throw LibvirtError.last("connect to \(uri ?? "the default libvirt URI")")
        }
        self.connection = connection
    }

    deinit { virConnectClose(connection) }
}

extension LibvirtConnection {
    /// libvirt's `virConnectListAll*` convention: `list` hands back an array of `count`
    /// objects the caller owns. Each is described, then released with `release`, and so
    /// is the array, whatever `describe` throws.
    func listAll<Value>(
        _ operation: String, _ list: (UnsafeMutablePointer<UnsafeMutablePointer<OpaquePointer?>?>) -> Int32,
        release: (OpaquePointer) -> Int32, describe: (OpaquePointer) throws(LibvirtError) -> Value
    ) throws(LibvirtError) -> [Value] {
        var objects: UnsafeMutablePointer<OpaquePointer?>?
        let count = list(&objects)
        guard count >= 0, let objects else { throw LibvirtError.last(operation) }
        defer {
            for index in 0..<Int(count) { if let object = objects[index] { _ = release(object) } }
            free(objects)
        }
        var values: [Value] = []
        for index in 0..<Int(count) {
            guard let object = objects[index] else { continue }
            values.append(try describe(object))
        }
        return values
    }
}

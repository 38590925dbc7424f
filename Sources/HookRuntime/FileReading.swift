import Glibc

/// Why a read failed: the errno, or more bytes than the caller allows.
public enum ReadFailure: Error, Equatable, CustomStringConvertible {
    case system(errno: Int32)
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .system(let code): String(cString: strerror(code))
        case .tooLarge(let limit): "larger than \(limit) bytes"
        }
    }
}

/// Reads `descriptor` to its end, retrying EINTR, refusing more than `limit` bytes.
public func readAll(from descriptor: Int32, limit: Int) throws(ReadFailure) -> [UInt8] {
    var bytes: [UInt8] = []
    // Uninitialized: zeroing 64 KiB per read is a hot path's largest cost.
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 1)
    defer { chunk.deallocate() }
    while true {
        let count = Glibc.read(descriptor, chunk.baseAddress, chunk.count)
        if count < 0, errno == EINTR { continue }
        guard count >= 0 else { throw .system(errno: errno) }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[..<count])
        guard bytes.count <= limit else { throw .tooLarge(limit: limit) }
    }
}

/// The bytes of the file at `path`, or nil when it does not exist.
public func readFile(at path: String, limit: Int) throws(ReadFailure) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        if errno == ENOENT { return nil }
        throw .system(errno: errno)
    }
    defer { close(descriptor) }
    return try readAll(from: descriptor, limit: limit)
}

/// The names in the folder at `path` ("." and ".." included), or nil if it cannot be
/// opened; `errno` then says why.
func folderEntries(_ path: String) -> [String]? {
    guard let folder = opendir(path) else { return nil }
    defer { closedir(folder) }
    var names: [String] = []
    while let entry = readdir(folder) {
        names.append(
            withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
    }
    return names
}

import Glibc
import HostNetwork
import VXLANCore

/// Who uses a VNI on this host: guests (by domain UUID) and libvirt networks (by
/// network UUID). Only touched while the VNI's lock is held.
public struct UserRegistry: Sendable {
    public let state: StateDirectory

    public init(state: StateDirectory) {
        self.state = state
    }

    /// A user of a VNI, named so that the name is a safe file name.
    public struct User: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable, DescribedByRawValue {
            case domain
            case network
        }

        public let kind: Kind
        public let uuid: String

        /// Only a canonical UUID makes a user: it becomes a file name, so nothing else
        /// (no "/", no "..") may reach the file system.
        public init?(_ kind: Kind, uuid: String) {
            let bytes = Array(uuid.utf8)
            let dashes: Set<Int> = [8, 13, 18, 23]
            guard bytes.count == 36,
                bytes.indices.allSatisfy({ index in
                    dashes.contains(index)
                        ? bytes[index] == UInt8(ascii: "-") : Character(UnicodeScalar(bytes[index])).isHexDigit
                })
            else { return nil }
            self.kind = kind
            self.uuid = uuid.lowercased()
        }

        init?(fileName: String) {
            let parts = fileName.split(separator: "-", maxSplits: 1)
            guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])) else { return nil }
            self.init(kind, uuid: String(parts[1]))
        }

        public var fileName: String { "\(kind.rawValue)-\(uuid)" }
        public var description: String { fileName }
    }

    /// What we keep of a user: its libvirt name (for logs) and its NICs' MACs on the VNI.
    public struct Record: Hashable, Sendable {
        public var name: String
        public var macs: [String]
        /// When the record was written, seconds since the epoch (from the file's mtime).
        public var since: Int

        public init(name: String, macs: [String], since: Int = 0) {
            self.name = name
            self.macs = macs
            self.since = since
        }
    }

    /// Records `user` on `vni` (replacing an older record). Atomic: write then rename.
    public func add(_ user: User, _ record: Record, on vni: VNI) throws(StateDirectory.Error) {
        try state.makeFolders("vni", vni.description)
        let final = "\(state.usersPath(vni))/\(user.fileName)"
        let temporary = final + ".new"
        // Appended by hand: joined(separator:) runs unspecialized, ~100,000 instructions.
        var text = record.name.escapedForMessage + "\n"
        for mac in record.macs { text += mac + "\n" }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .system(operation: "open", path: temporary, errno: errno) }
        let written = text.utf8CString.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count - 1) }
        close(descriptor)
        guard written == text.utf8.count, rename(temporary, final) == 0 else {
            unlink(temporary)
            throw .system(operation: "write", path: final, errno: errno)
        }
        #if DEBUG
            FaultInjection.changeSucceeded()
        #endif
    }

    /// Forgets `user` on `vni`; returns whether it was recorded.
    @discardableResult
    public func remove(_ user: User, from vni: VNI) throws(StateDirectory.Error) -> Bool {
        let file = "\(state.usersPath(vni))/\(user.fileName)"
        guard unlink(file) == 0 else {
            guard errno == ENOENT else { throw .system(operation: "unlink", path: file, errno: errno) }
            return false
        }
        #if DEBUG
            FaultInjection.changeSucceeded()
        #endif
        return true
    }

    /// Every user recorded on `vni`.
    public func users(of vni: VNI) throws(StateDirectory.Error) -> [User: Record] {
        let folder = state.usersPath(vni)
        guard let names = folderEntries(folder) else {
            guard errno == ENOENT else { throw .system(operation: "opendir", path: folder, errno: errno) }
            return [:]
        }
        var found: [User: Record] = [:]
        for name in names {
            guard let user = User(fileName: name), let record = readRecord("\(folder)/\(name)") else { continue }
            found[user] = record
        }
        return found
    }

    /// `user`'s record on `vni`, if any: one file, however many guests share the VNI.
    public func record(of user: User, on vni: VNI) -> Record? {
        readRecord("\(state.usersPath(vni))/\(user.fileName)")
    }

    /// VNIs that have a users folder (for `vxlanctl gc`).
    public func recordedVNIs() -> [VNI] {
        (folderEntries(state.path + "/vni") ?? []).compactMap { try? VNI(parsing: $0) }.sorted()
    }

    private func readRecord(_ file: String) -> Record? {
        // A record is a name and a few MACs; anything larger was not written by us.
        guard let bytes = try? readFile(at: file, limit: 4096) else { return nil }
        var status = stat()
        let since = stat(file, &status) == 0 ? Int(status.st_mtim.tv_sec) : 0
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let name = lines.first else { return nil }
        return Record(name: name, macs: Array(lines.dropFirst()), since: since)
    }
}

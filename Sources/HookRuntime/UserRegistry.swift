import Glibc
import Lifecycle
import VXLANCore

/// Who uses a VNI on this host: one file per user under the VNI's folder, holding its
/// name and MACs (`StateDirectory`). Only touched while the VNI's lock is held.
public struct UserRegistry: UserStore, Sendable {
    public let state: StateDirectory

    public init(state: StateDirectory) {
        self.state = state
    }

    /// Records `user` on `vni` (replacing an older record). Atomic: write then rename.
    public func add(_ user: SegmentUser, _ record: UserRecord, on vni: VNI) throws(StateError) {
        try state.makeFolders("vni", vni.description)
        // Appended by hand: joined(separator:) runs unspecialized here.
        var text = record.name.escapedForMessage + "\n"
        for mac in record.macs { text += mac + "\n" }
        try state.writeAtomically(text, to: "\(state.usersPath(vni))/\(user.fileName)")
    }

    /// Forgets `user` on `vni`; returns whether it was recorded.
    @discardableResult
    public func remove(_ user: SegmentUser, from vni: VNI) throws(StateError) -> Bool {
        try state.remove("\(state.usersPath(vni))/\(user.fileName)")
    }

    /// Every user recorded on `vni`.
    public func users(of vni: VNI) throws(StateError) -> [SegmentUser: UserRecord] {
        let folder = state.usersPath(vni)
        guard let names = folderEntries(folder) else {
            guard errno == ENOENT else { throw .system("opendir", folder) }
            return [:]
        }
        var found: [SegmentUser: UserRecord] = [:]
        for name in names {
            guard let user = SegmentUser(fileName: name), let record = readRecord("\(folder)/\(name)") else { continue }
            found[user] = record
        }
        return found
    }

    /// `user`'s record on `vni`, if any: one file, however many guests share the VNI.
    public func record(of user: SegmentUser, on vni: VNI) -> UserRecord? {
        readRecord("\(state.usersPath(vni))/\(user.fileName)")
    }

    /// VNIs that have a users folder (for `vxlanctl gc`).
    public func recordedVNIs() -> [VNI] {
        (folderEntries(state.path + "/vni") ?? []).compactMap { try? VNI(parsing: $0) }.sorted()
    }

    private func readRecord(_ file: String) -> UserRecord? {
        // A record is a name and a few MACs; anything larger was not written by us.
        guard let bytes = try? readFile(at: file, limit: 4096) else { return nil }
        var status = stat()
        let since = stat(file, &status) == 0 ? Int(status.st_mtim.tv_sec) : 0
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let name = lines.first else { return nil }
        return UserRecord(name: name, macs: Array(lines.dropFirst()), since: since)
    }
}

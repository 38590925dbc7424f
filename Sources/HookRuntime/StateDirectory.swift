import Glibc
import Lifecycle
import VXLANCore

/// The hook's runtime state under `/run/libvirt-vxlan` (tmpfs: it vanishes at reboot,
/// together with the links it describes). Per VNI: a lock file, and one file per user.
///
///     /run/libvirt-vxlan/locks/5001
///     /run/libvirt-vxlan/vni/5001/domain-8208a171-bec1-4d3a-b61c-c683a39a1070
///     /run/libvirt-vxlan/vni/5001/network-4a70a2fb-8ccb-4ca4-8b9b-b0dc1656def9
///     /run/libvirt-vxlan/plans/5001
///
/// A user file holds the guest's name and the MACs of its NICs on that VNI, so that a
/// guest that vanished without `release` can be recognised by its missing taps. Pending
/// teardowns have a mark each under `pending/` (`PendingTeardowns`).
public struct StateDirectory: SegmentLocks, Sendable {
    public static let defaultPath = "/run/libvirt-vxlan"
    public static let environmentVariable = "LIBVIRT_VXLAN_STATE_DIR"

    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// `LIBVIRT_VXLAN_STATE_DIR` (tests) or `/run/libvirt-vxlan`.
    public static func fromEnvironment() -> StateDirectory {
        StateDirectory(path: getenv(environmentVariable).map { String(cString: $0) } ?? defaultPath)
    }

    func lockPath(_ vni: VNI) -> String { lockPath(name: vni.description) }
    func lockPath(name: String) -> String { "\(path)/locks/\(name)" }
    func usersPath(_ vni: VNI) -> String { "\(path)/vni/\(vni)" }
    var pendingPath: String { "\(path)/pending" }

    /// The VNIs whose teardown is marked and not yet done (`PendingTeardowns`), ascending.
    public func pendingTeardowns() -> [VNI] {
        (folderEntries(pendingPath) ?? []).compactMap { try? VNI(parsing: $0) }.sorted()
    }

    func planPath(_ vni: VNI) -> String { "\(path)/plans/\(vni)" }

    /// Creates `path/components...` folder by folder, mode 0700 (root's business only).
    func makeFolders(_ components: String...) throws(StateError) {
        var current = path
        for component in [""] + components {
            if !component.isEmpty { current += "/" + component }
            guard mkdir(current, 0o700) == 0 || errno == EEXIST else {
                throw .system("mkdir", current)
            }
        }
    }

    /// Writes `text` to `final` atomically (a temporary file, then rename): a reader sees
    /// the old file or the new one, never half of one. A crash point in debug builds
    /// unless `isCrashPoint` is false.
    func writeAtomically(_ text: String, to final: String, isCrashPoint: Bool = true) throws(StateError) {
        let temporary = final + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .system("open", temporary) }
        let written = text.utf8CString.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count - 1) }
        close(descriptor)
        guard written == text.utf8.count, rename(temporary, final) == 0 else {
            unlink(temporary)
            throw .system("write", final)
        }
        #if DEBUG
            if isCrashPoint { FaultInjection.changeSucceeded() }
        #endif
    }

    /// Removes `file`; returns whether it existed. A crash point in debug builds.
    func remove(_ file: String) throws(StateError) -> Bool {
        guard unlink(file) == 0 else {
            guard errno == ENOENT else { throw .system("unlink", file) }
            return false
        }
        #if DEBUG
            FaultInjection.changeSucceeded()
        #endif
        return true
    }

    public func lock(_ vni: VNI) throws(StateError) -> any SegmentLock {
        try VNILock(vni, in: self)
    }
}

extension StateError {
    /// A failed system call on `path`, with the reason `errno` gives.
    static func system(_ operation: String, _ path: String, errno code: Int32 = errno) -> StateError {
        StateError(operation: operation, path: path, reason: String(cString: strerror(code)))
    }
}

/// An exclusive lock on one VNI (flock), held until `release()` or process exit. Hook
/// calls on the same VNI run one after the other; different VNIs run in parallel. The
/// kernel drops a flock when its holder dies, so a killed hook never leaves it stuck.
public final class VNILock: SegmentLock {
    /// Open while the lock is held (close-on-exec: no program this process starts holds it).
    private(set) var descriptor: Int32

    public init(_ vni: VNI, in state: StateDirectory) throws(StateError) {
        try state.makeFolders("locks")
        let path = state.lockPath(vni)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .system("open", path) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let code = errno
                close(descriptor)
                throw .system("flock", path, errno: code)
            }
        }
    }

    /// Closes our descriptor, which lets go of the lock (no other process shares it).
    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

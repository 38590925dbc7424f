import CAtomic
import Glibc
import VXLANCore

/// The counters file (`CounterLayout`), mapped shared: the hook and the reaper add to it,
/// the watcher and `vxlanctl metrics` read it. Atomic adds in shared memory, rather than a
/// record appended per call for the watcher to fold, cost the hook no formatting and no
/// write, lose nothing when processes race or the watcher is down, and need no rotation.
///
///     /run/libvirt-vxlan/metrics/counters-v1    4096 bytes: slot 0 the magic, then counters
///
/// Counting never fails a caller: a file that cannot be made, mapped, or is of another
/// layout means `open` returns nil and nothing is counted.
public final class CounterFile {
    private let slots: UnsafeMutablePointer<UInt64>

    private init(slots: UnsafeMutablePointer<UInt64>) {
        self.slots = slots
    }

    deinit { munmap(slots, CounterLayout.byteCount) }

    /// The file under `state`, created (zero-filled) when absent; nil when unusable.
    public static func open(in state: StateDirectory) -> CounterFile? {
        let path = state.countersPath
        var descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if descriptor < 0, errno == ENOENT {
            guard (try? state.makeFolders("metrics")) != nil else { return nil }
            descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        }
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        // Two processes that find it empty both extend it to the same size: no harm.
        if status.st_size == 0 {
            guard ftruncate(descriptor, off_t(CounterLayout.byteCount)) == 0 else { return nil }
        } else if status.st_size != CounterLayout.byteCount {
            return nil
        }
        let mapped = mmap(nil, CounterLayout.byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let mapped, mapped != MAP_FAILED else { return nil }
        let slots = mapped.bindMemory(to: UInt64.self, capacity: CounterLayout.slotCount)
        let found = lvx_atomic_compare_exchange(slots, 0, CounterLayout.magic)
        guard found == 0 || found == CounterLayout.magic else {
            munmap(mapped, CounterLayout.byteCount)
            return nil
        }
        return CounterFile(slots: slots)
    }

    public func add(_ slot: Int, _ value: UInt64 = 1) {
        guard slot > 0, slot < CounterLayout.slotCount else { return }
        lvx_atomic_add(slots + slot, value)
    }

    public func store(_ slot: Int, _ value: UInt64) {
        guard slot > 0, slot < CounterLayout.slotCount else { return }
        lvx_atomic_store(slots + slot, value)
    }

    /// Every slot as it is now.
    public func snapshot() -> [UInt64] {
        (0..<CounterLayout.slotCount).map { lvx_atomic_load(slots + $0) }
    }

    /// The slots of the file under `state`, read without creating or changing anything
    /// (`vxlanctl metrics`, the watcher's exposition); empty when there is no such file
    /// (nothing counted yet) or it is of another layout.
    public static func read(in state: StateDirectory) -> [UInt64] {
        guard let bytes = try? readFile(at: state.countersPath, limit: CounterLayout.byteCount),
            bytes.count == CounterLayout.byteCount
        else { return [] }
        let slots = bytes.withUnsafeBytes { raw in
            (0..<CounterLayout.slotCount).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) }
        }
        return slots.first == CounterLayout.magic ? slots : []
    }
}

extension StateDirectory {
    var countersPath: String { path + "/metrics/" + CounterLayout.fileName }
}

/// Microseconds on the monotonic clock: a hook call's duration.
func monotonicMicroseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1_000_000 + now.tv_nsec / 1000
}

import Glibc
import Lifecycle
import VXLANCore

/// The reaper as a program: the hook worker executed with `flag` by a hook call whose
/// release left a teardown pending (`PendingTeardowns.Style.detached`). libvirt runs the
/// hook synchronously and deleting devices costs a kernel RCU grace period per device
/// that nobody needs to wait for, so the hook starts this and exits.
///
/// libvirt requires of anything a hook leaves running that it hold none of libvirt's
/// descriptors (an inherited stdout or stderr pipe hangs the caller's `virsh` until it
/// exits, virt-manager #299) and sit in a session of its own: `start` sees to both.
public enum ReaperMain {
    public static let flag = "--reap"

    /// Where the reaper finds the reaper lock, held (the descriptor after stderr).
    static let lockDescriptor = STDERR_FILENO + 1

    /// Holding the reaper lock on `lockDescriptor`: waits for the burst of releases to
    /// end, reaps every mark until none is left, exits. The configuration is not read
    /// (the marks name the devices); the state folder is the hook's
    /// (`LIBVIRT_VXLAN_STATE_DIR` or /run/libvirt-vxlan).
    public static func run() -> Int32 {
        // Where glibc could not close the rest at spawn (before 2.34), here.
        closefrom(lockDescriptor + 1)
        nameProcess()
        let state = StateDirectory.fromEnvironment()
        guard holdsReaperLock(of: state) else {
            let lock = state.lockPath(name: "reaper")
            writeStandardError(
                "libvirt-vxlan-hook: \(flag) expects the held lock \(lock) on descriptor \(lockDescriptor); "
                    + "the hook starts it\n")
            return 64
        }
        let journal = Journal(phase: "reap")
        guard let host = try? SegmentHost.open(state: state, journal: journal, reaper: .detached) else {
            journal.log(.error, "teardown: cannot open a netlink socket; the marks stay for the next reaper")
            return 1
        }
        host.teardowns.reapWhileMarked(holding: lockDescriptor, batching: true)
        return 0
    }

    /// Named after what it does in ps, top and the journal's _COMM, not after the
    /// worker's file (prctl, which takes varargs, does not import).
    private static func nameProcess() {
        let descriptor = open("/proc/self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        write(name, to: descriptor)
        close(descriptor)
    }

    /// The reaper's process name (at most 15 bytes), and its argv[0].
    static let name = "vxlan-reaper"

    /// Whether `lockDescriptor` is the reaper lock file, and held through it: flock on a
    /// descriptor whose open file holds the lock succeeds at once.
    private static func holdsReaperLock(of state: StateDirectory) -> Bool {
        var held = stat()
        var named = stat()
        guard fstat(lockDescriptor, &held) == 0, stat(state.lockPath(name: "reaper"), &named) == 0,
            held.st_dev == named.st_dev, held.st_ino == named.st_ino
        else { return false }
        return flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0
    }

    /// Starts the reaper with posix_spawn, handing it `lock` (held); returns false when
    /// it could not start, and the caller then reaps itself. The caller does not wait for
    /// it: the hook exits right away, and init adopts the reaper and collects its status.
    ///
    /// The program is the file readlink(/proc/self/exe) names, the worker this process
    /// runs (as the launcher finds the worker). Not /proc/self/exe itself: under
    /// valgrind (Benchmarks/instructions) that is valgrind's tool, which would start and
    /// exit with posix_spawn reporting success and the mark left for the next wake;
    /// valgrind answers the readlink with the worker's name. A package upgrade that replaced the worker
    /// while this call ran leaves the name "… (deleted)": posix_spawn fails and the hook
    /// reaps inline, once. Every later call runs the new worker, whose reaper reads the
    /// marks the old one left (they outlive an upgrade in /run anyway).
    static func start(holding lock: Int32) -> Bool {
        // Above the standard streams whatever the lock's number, then dup2'ed onto
        // `lockDescriptor`, which clears close-on-exec there only.
        let kept = fcntl(lock, F_DUPFD_CLOEXEC, 10)
        guard kept >= 0 else { return false }
        defer { close(kept) }
        var actions = posix_spawn_file_actions_t()
        guard posix_spawn_file_actions_init(&actions) == 0 else { return false }
        defer { posix_spawn_file_actions_destroy(&actions) }
        var ready = posix_spawn_file_actions_adddup2(&actions, kept, lockDescriptor) == 0
        for standard in STDIN_FILENO...STDERR_FILENO {
            ready = ready && posix_spawn_file_actions_addopen(&actions, standard, "/dev/null", O_RDWR, 0) == 0
        }
        if let closeFrom = addCloseFrom { ready = ready && closeFrom(&actions, lockDescriptor + 1) == 0 }
        guard ready else { return false }

        var attributes = posix_spawnattr_t()
        guard posix_spawnattr_init(&attributes) == 0 else { return false }
        defer { posix_spawnattr_destroy(&attributes) }
        // A clean signal state: nothing blocked, every action at its default.
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        let flags = newSession | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        guard posix_spawnattr_setflags(&attributes, Int16(flags)) == 0 else { return false }

        #if DEBUG
            FaultInjection.handOn()
        #endif
        // On the stack, not in arrays: what the release that starts it pays.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(PATH_MAX)) { program in
            guard let path = program.baseAddress else { return false }
            let length = readlink("/proc/self/exe", path, program.count)
            // A name that fills the buffer may have been cut short.
            guard length > 0, length < program.count else { return false }
            path[length] = 0
            return withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<CChar>?.self, capacity: 3) { arguments in
                guard let argv = arguments.baseAddress else { return false }
                arguments.initialize(repeating: nil)
                arguments[0] = strdup(name)
                arguments[1] = strdup(flag)
                defer { arguments.forEach { free($0) } }
                var pid = pid_t()
                return posix_spawn(&pid, path, &actions, &attributes, argv, environ) == 0
            }
        }
    }

    /// POSIX_SPAWN_SETSID (glibc 2.26), which the Glibc module does not import.
    private static let newSession: Int32 = 0x80

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34), which the Glibc module
    /// does not import; nil before 2.34 (then `run` closes the rest).
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np"
    ).map { unsafeBitCast($0, to: AddCloseFrom.self) }
}

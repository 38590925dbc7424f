#if DEBUG
    import Glibc

    /// Test-only crash points: with `LIBVIRT_VXLAN_CRASH_AFTER=N` the process kills itself
    /// with SIGKILL right after its Nth successful change (a netlink change, or a user
    /// record written or removed), so tests can prove that the next call converges from
    /// every intermediate state. Compiled into debug builds only: a release build (the
    /// package) has no such switch.
    enum FaultInjection {
        nonisolated(unsafe) private static var remaining: Int? = getenv("LIBVIRT_VXLAN_CRASH_AFTER").flatMap {
            Int(String(cString: $0))
        }

        static func changeSucceeded() {
            guard let count = remaining else { return }
            remaining = count - 1
            if count == 1 { kill(getpid(), SIGKILL) }
        }

        /// The crash points left, for a reaper this process starts (`ReaperMain.start`):
        /// it counts on from this process's last change, so that the steps of a release
        /// and of the reaper it wakes are numbered as one sequence.
        static func handOn() {
            guard let count = remaining else { return }
            setenv("LIBVIRT_VXLAN_CRASH_AFTER", "\(count)", 1)
        }
    }
#endif

import Glibc

/// Runs work that libvirt must not wait for in a forked child that outlives the hook.
///
/// libvirt runs the hook synchronously, and deleting devices costs a kernel RCU grace
/// period (~30 ms) that nobody needs to wait for: the reaper runs here
/// (`PendingTeardowns`). The child is fully detached, as libvirt requires of anything a
/// hook leaves behind: a session of its own, stdio on /dev/null, and no descriptor of
/// libvirt's open (an inherited pipe would hang the caller's `virsh`, virt-manager #299).
/// It keeps `descriptor` (the reaper lock), as `keptDescriptor`.
enum DetachedChild {
    /// Where the child finds the descriptor it kept.
    static let keptDescriptor = STDERR_FILENO + 1

    /// Returns false if no child could be started: the caller then does the work itself.
    /// In the child, runs `work` and exits; it never returns into the caller's code.
    static func run(keeping descriptor: Int32, _ work: () -> Void) -> Bool {
        let pid = fork()
        guard pid == 0 else { return pid > 0 }
        _ = setsid()
        closeInheritedDescriptors(keeping: descriptor)
        work()
        _exit(0)
    }

    /// stdin, stdout and stderr on /dev/null; `kept` moved to descriptor 3 and every
    /// other one closed, the syslog socket included (syslog opens a new one when the
    /// child logs, under the journal's tag: closelog() forgets it).
    private static func closeInheritedDescriptors(keeping kept: Int32) {
        closelog()
        Journal.openSyslog()
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        for standard in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] {
            if null >= 0 { _ = dup2(null, standard) } else { _ = close(standard) }
        }
        if kept != keptDescriptor { _ = dup2(kept, keptDescriptor) }
        closefrom(keptDescriptor + 1)
    }
}

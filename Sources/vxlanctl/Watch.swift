import ArgumentParser
import Glibc
import HookRuntime
import VXLANCore

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep every segment in use converged between guest starts and stops (a service).",
        discussion: """
            The hook makes a segment when a guest starts; what happens to the host \
            afterwards (the underlay deleted and re-created by ifdown/ifup or a \
            NetworkManager reconnect, which makes the kernel delete every vxlan device on \
            it; a vxlan device deleted, detached or set down by hand; the underlay's MTU or \
            address changed) would leave the overlay dead until the next guest start on \
            that VNI. watch repairs it within about a second.

            It sleeps until the kernel reports a change of a link or an address (rtnetlink \
            notifications), waits --settle milliseconds for the burst to end, reads every \
            link once and repairs each segment that has users (the records under \
            /run/libvirt-vxlan) and does not match the plan the hook last applied to it. \
            Each repair takes the VNI's lock and reads the users again: a segment whose \
            last guest left is never brought back, and a device libvirt-vxlan did not \
            create is never changed. An owned vxlan device is replaced only when the \
            underlay's index or the VTEP address it takes from the underlay changed. \
            Every --interval seconds, and after lost notifications, the same check runs \
            and guests that vanished without libvirt's release are forgotten (as gc does).

            The package runs it as libvirt-vxlan-watch.service; the hook does not need it. \
            Logs go to the journal (journalctl -t libvirt-vxlan), and to stderr when stderr \
            is not the journal. SIGTERM or SIGINT stops it at once; vxlanctl status says \
            whether it runs. Honours --config, $LIBVIRT_VXLAN_CONFIG and \
            $LIBVIRT_VXLAN_STATE_DIR, so it can run in the foreground inside a network \
            namespace.

            Example: vxlanctl watch --interval 30
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: "Seconds between two sweeps of every segment in use.")
    var interval = 60

    @Option(help: "Milliseconds without a notification before a check starts.")
    var settle = 100

    @Option(help: "Seconds a guest's record must have existed before a sweep may forget it (as gc --grace).")
    var grace = 300

    func validate() throws {
        guard (1...86_400).contains(interval) else { throw ValidationError("--interval must be 1-86400 seconds") }
        guard (0...1000).contains(settle) else { throw ValidationError("--settle must be 0-1000 milliseconds") }
        guard grace >= 0 else { throw ValidationError("--grace must be 0 or more seconds") }
    }

    func run() throws {
        try reportingFailures {
            // Read once to refuse a broken file at start; every check reads it again, as
            // the hook reads it at every call.
            _ = try options.loadConfig()
            let state = StateDirectory.fromEnvironment()
            let stop = StopSignals.install()
            let claim: Int32
            do { claim = try state.claimWatcher() } catch { throw Failure.host(String(describing: error)) }
            defer { close(claim) }
            let journal = Journal(echo: !standardErrorIsJournal())
            let explicit = options.config
            let watcher: SegmentWatcher
            do {
                // The watcher reaps in its own loop, unless a hook's reaper runs
                // (`PendingTeardowns.Style.inlineIfIdle`).
                let host = try options.openHost(reaper: .inlineIfIdle, staleAfter: grace, journal: journal)
                watcher = try SegmentWatcher(
                    host: host, interval: interval, settle: settle,
                    configured: { vni in
                        guard let config = try? ConfigFile.load(explicit: explicit) else { return nil }
                        return try? config.plan(for: vni)
                    })
            } catch let failure as Failure {
                throw failure
            } catch {
                throw Failure.host(String(describing: error))
            }
            watcher.run(stop: stop)
        }
    }
}

/// Whether stderr is systemd's connection to the journal (`JOURNAL_STREAM` names its
/// device and inode): then each line would be logged twice.
func standardErrorIsJournal() -> Bool {
    guard let variable = getenv("JOURNAL_STREAM") else { return false }
    var status = stat()
    guard fstat(STDERR_FILENO, &status) == 0 else { return false }
    return String(cString: variable) == "\(status.st_dev):\(status.st_ino)"
}

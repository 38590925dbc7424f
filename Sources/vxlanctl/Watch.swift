import ArgumentParser
import Glibc
import HookRuntime
import Metrics
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

            Metrics (docs/metrics.md): node_exporter's textfile collector file, rewritten \
            atomically every --metrics-interval seconds (default auto: \
            /var/lib/prometheus/node-exporter/libvirt_vxlan.prom when that folder exists), \
            and /metrics over HTTP on --metrics-listen (off by default), both served from \
            the same poll loop; [metrics] in vxlan.conf sets the same. \
            --peer-check-interval adds a periodic check --peers whose verdicts they carry.

            The package runs it as libvirt-vxlan-watch.service; the hook does not need it. \
            Logs go to the journal (journalctl -t libvirt-vxlan; journalctl VNI=5001 for one \
            segment), and to stderr when stderr \
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

    @Option(
        help: ArgumentHelp(
            "Serve /metrics over HTTP on this address (127.0.0.1:9470, [::1]:9470, a management address), or off. "
                + "Default: [metrics] listen in vxlan.conf, else off.", valueName: "address:port|off"))
    var metricsListen: String?

    @Option(
        help: ArgumentHelp(
            "Write the metrics for node_exporter's textfile collector to this file (atomically), or off, or auto: "
                + "\(MetricsTextfile.defaultFolder)/\(MetricsTextfile.fileName) when that folder exists. "
                + "Default: [metrics] textfile in vxlan.conf, else auto.", valueName: "path|auto|off"))
    var metricsTextfile: String?

    @Option(help: "Seconds between two writes of the textfile (default: [metrics] textfile_interval, else 15).")
    var metricsInterval: Int?

    @Option(
        help: ArgumentHelp(
            "Seconds between two checks of the path to every other VTEP (as check --peers), whose verdicts the "
                + "metrics carry; 0: none (default: [metrics] peer_check_interval, else 0)."))
    var peerCheckInterval: Int?

    func validate() throws {
        guard (1...86_400).contains(interval) else { throw ValidationError("--interval must be 1-86400 seconds") }
        guard (0...1000).contains(settle) else { throw ValidationError("--settle must be 0-1000 milliseconds") }
        guard grace >= 0 else { throw ValidationError("--grace must be 0 or more seconds") }
        if let metricsListen, metricsListen != "off", ListenAddress(metricsListen) == nil {
            throw ValidationError("--metrics-listen takes ADDRESS:PORT (127.0.0.1:9470, [::1]:9470) or off")
        }
        if let metricsTextfile, !["auto", "off"].contains(metricsTextfile),
            !metricsTextfile.hasPrefix("/") || !metricsTextfile.hasSuffix(".prom")
        {
            throw ValidationError("--metrics-textfile takes an absolute path ending in .prom, auto or off")
        }
        if let metricsInterval, !(1...3600).contains(metricsInterval) {
            throw ValidationError("--metrics-interval must be 1-3600 seconds")
        }
        if let peerCheckInterval, !(0...86_400).contains(peerCheckInterval) {
            throw ValidationError("--peer-check-interval must be 0-86400 seconds")
        }
    }

    func run() throws {
        try reportingFailures {
            // Read once to refuse a broken file at start; every check reads it again, as
            // the hook reads it at every call.
            let config = try options.loadConfig()
            let state = StateDirectory.fromEnvironment()
            let stop = StopSignals.install()
            let claim: Int32
            do { claim = try state.claimWatcher() } catch { throw Failure.host(String(describing: error)) }
            defer { close(claim) }
            let journal = Journal(echo: !standardErrorIsJournal(), phase: "watch")
            let explicit = options.config
            let configured = { (vni: VNI) -> SegmentPlan? in
                guard let config = try? ConfigFile.load(explicit: explicit) else { return nil }
                return try? config.plan(for: vni)
            }
            let watcher: SegmentWatcher
            do {
                // The watcher reaps in its own loop, unless a hook's reaper runs
                // (`PendingTeardowns.Style.inlineIfIdle`).
                let host = try options.openHost(reaper: .inlineIfIdle, staleAfter: grace, journal: journal)
                watcher = try SegmentWatcher(host: host, interval: interval, settle: settle, configured: configured)
                watcher.export = try export(
                    config.metrics, metrics: HostMetrics(host: host, configured: configured), journal: journal)
            } catch let failure as Failure {
                throw failure
            } catch {
                throw Failure.host(String(describing: error))
            }
            watcher.run(stop: stop)
        }
    }
}

extension Watch {
    /// The metrics' export: the options over vxlan.conf's [metrics]; nil when all is off.
    func export(_ settings: MetricsSettings, metrics: HostMetrics, journal: Journal) throws -> MetricsExport? {
        var listen = settings.listen
        if let metricsListen { listen = metricsListen == "off" ? nil : ListenAddress(metricsListen) }
        var textfile = settings.textfile
        switch metricsTextfile {
        case nil: break
        case "auto": textfile = .auto
        case "off": textfile = .off
        case let path?: textfile = .path(path)
        }
        let textfilePath: String?
        switch textfile {
        case .off: textfilePath = nil
        case .path(let path): textfilePath = path
        case .auto:
            // Debian's prometheus-node-exporter reads this folder; without it, nobody would.
            var status = stat()
            let folder = MetricsTextfile.defaultFolder
            textfilePath =
                stat(folder, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
                ? "\(folder)/\(MetricsTextfile.fileName)" : nil
        }
        let peerInterval = peerCheckInterval ?? settings.peerCheckInterval
        guard listen != nil || textfilePath != nil else { return nil }
        let endpoint: MetricsEndpoint?
        do { endpoint = try listen.map { try MetricsEndpoint(listening: $0) } } catch {
            throw Failure.host(String(describing: error))
        }
        var served: [String] = []
        if let listen { served.append("http://\(listen)/metrics") }
        if let textfilePath { served.append(textfilePath) }
        if peerInterval > 0 { served.append("peer checks every \(peerInterval) s") }
        journal.log(.info, "watch: metrics: \(served.joined(separator: ", "))")
        return MetricsExport(
            metrics: metrics, endpoint: endpoint, textfile: textfilePath,
            textfileInterval: metricsInterval ?? settings.textfileInterval, journal: journal,
            peerCheck: peerInterval > 0 ? peerCheck(journal) : nil, peerInterval: peerInterval)
    }

    /// `check --peers` as the watcher runs it; a change of a peer's verdict is logged.
    private func peerCheck(_ journal: Journal) -> () -> PeerCheckObservation? {
        let explicit = options.config
        var last: [IPAddress: String] = [:]
        return {
            guard let config = try? ConfigFile.load(explicit: explicit) else { return nil }
            let checks = PeerChecks(config: config, configPath: ConfigFile.path(explicit: explicit).path, given: [])
            guard case .success(let verdicts) = checks.verdicts() else {
                return PeerCheckObservation(time: Int(time(nil)), verdicts: [])
            }
            for (report, verdict) in verdicts where last[report.peer] != verdict.label {
                let result = report.result(verdict)
                if last[report.peer] != nil || verdict != .pass {
                    journal.log(
                        verdict == .pass ? .notice : .warning, "watch: peer \(result.message)",
                        LogEvent(.notice, outcome: verdict.label))
                }
                last[report.peer] = verdict.label
            }
            return PeerCheckObservation(time: Int(time(nil)), verdicts: verdicts.map { ($0.0.peer, $0.1) })
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

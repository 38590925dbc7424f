import Glibc
import HookRuntime
import VXLANCore

/// How the watcher hands its metrics out: `/metrics` on an HTTP endpoint, node_exporter's
/// textfile rewritten every `textfileInterval`, and an optional periodic peer check whose
/// verdicts they carry. Runs inside the watcher's `poll()` loop (`WatcherLoopClient`).
public final class MetricsExport: WatcherLoopClient {
    var metrics: HostMetrics
    let endpoint: MetricsEndpoint?
    let textfile: String?
    let textfileInterval: Int
    let journal: Journal
    /// `check --peers` as the watcher runs it (PathProbe lives in vxlanctl); nil: off.
    let peerCheck: (() -> PeerCheckObservation?)?
    let peerInterval: Int
    private var nextTextfile = 0
    private var nextPeerCheck = 0
    /// The last textfile failure logged: logged once, not at every interval.
    private var textfileFailure: String?

    /// - Parameters:
    ///   - textfileInterval, peerInterval: seconds.
    public init(
        metrics: HostMetrics, endpoint: MetricsEndpoint?, textfile: String?, textfileInterval: Int, journal: Journal,
        peerCheck: (() -> PeerCheckObservation?)? = nil, peerInterval: Int = 0
    ) {
        self.metrics = metrics
        self.endpoint = endpoint
        self.textfile = textfile
        self.textfileInterval = textfileInterval * 1000
        self.journal = journal
        self.peerCheck = peerCheck
        self.peerInterval = peerInterval * 1000
    }

    /// The exposition now, or the error that kept it from being read.
    func exposition() -> (status: Int, text: String) {
        do { return (200, try metrics.exposition()) } catch { return (500, "cannot read the links: \(error)\n") }
    }

    public func descriptors() -> [pollfd] { endpoint?.descriptors() ?? [] }

    /// Milliseconds until something is due (a connection's deadline, the textfile, the
    /// peer check).
    public func millisecondsUntilDue(now: Int) -> Int? {
        var due: [Int] = []
        if let deadline = endpoint?.millisecondsUntilDeadline(now: now) { due.append(deadline) }
        if textfile != nil { due.append(max(0, nextTextfile - now)) }
        if peerCheck != nil, peerInterval > 0 { due.append(max(0, nextPeerCheck - now)) }
        return due.min()
    }

    /// Serves what `poll()` found ready on our descriptors, and runs what is due.
    public func handle(_ polled: ArraySlice<pollfd>, now: Int) {
        endpoint?.handle(polled, now: now) { path in
            switch path {
            case "/metrics": exposition()
            case "/": (200, "libvirt-vxlan: metrics at /metrics\n")
            default: (404, "not found; metrics at /metrics\n")
            }
        }
        if let peerCheck, peerInterval > 0, now >= nextPeerCheck {
            nextPeerCheck = now + peerInterval
            if let observation = peerCheck() { metrics.peers = observation }
        }
        if let textfile, now >= nextTextfile {
            nextTextfile = now + textfileInterval
            writeTextfile(textfile)
        }
    }

    /// After a check: the textfile shows what it found within a second.
    public func checked() {
        nextTextfile = min(nextTextfile, monotonicMilliseconds() + 1000)
    }

    private func writeTextfile(_ path: String) {
        let (status, text) = exposition()
        guard status == 200 else { return }
        do {
            try MetricsTextfile.write(text, to: path)
            if textfileFailure != nil { journal.log(.notice, "watch: metrics written to \(path) again") }
            textfileFailure = nil
        } catch {
            let reason = "\(error)"
            if textfileFailure != reason {
                journal.log(.error, "watch: cannot write metrics for node_exporter: \(reason)")
            }
            textfileFailure = reason
        }
    }
}

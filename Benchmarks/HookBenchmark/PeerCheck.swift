import Foundation

/// `vxlanctl check --peers` against N remotes, and plain `vxlanctl check` with the same
/// configuration in the same rounds: the difference of the medians is the probing.
struct PeerCheckRow: Codable {
    var peers: Int
    /// The peers answer (every probe settles early), or stay silent (the deadline).
    var answering: Bool
    var check: Distribution
    var checkPeers: Distribution
}

extension Benchmark {
    /// Benchmarks/run puts 198.18.0.2-101 (RFC 2544's benchmarking range) on a peer
    /// namespace behind `pr0` (MTU 9000); 198.18.0.102 and up are on the link but nobody
    /// has them: silent peers, whose neighbour resolution fails.
    func peerChecks(counts: [(peers: Int, answering: Bool)], runs: Int) throws -> [PeerCheckRow] {
        try counts.map { count in
            let first = count.answering ? 2 : 102
            let remotes = (first..<first + count.peers).map { "\"198.18.0.\($0)\"" }
            let config = "\(work)/peers-\(count.peers)-\(count.answering).conf"
            try "underlay = \"pr0\"\nmode = \"unicast\"\nremotes = [\(remotes.joined(separator: ", "))]\n".write(
                toFile: config, atomically: true, encoding: .utf8)
            try verify(config: config, passes: count.answering ? count.peers : 0)
            var check: [Double] = []
            var checkPeers: [Double] = []
            for _ in 0..<runs {
                // check exits 1 here (no hook entries in this namespace's view): only the time counts.
                check.append(spawner.run([vxlanctl, "check", "--config", config]).microseconds)
                let probed = spawner.run([vxlanctl, "check", "--peers", "--config", config])
                guard probed.status <= 1 else { fatalError("vxlanctl check --peers: \(spawner.errors())") }
                checkPeers.append(probed.microseconds)
            }
            return PeerCheckRow(
                peers: count.peers, answering: count.answering, check: Distribution(check),
                checkPeers: Distribution(checkPeers))
        }
    }

    /// The answering peers really pass (a benchmark of failures would time the deadline).
    private func verify(config: String, passes: Int) throws {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: vxlanctl)
        process.arguments = ["check", "--peers", "--config", config]
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let passed = text.split(separator: "\n").filter { $0.hasPrefix("PASS  peer:") }.count
        guard passed == passes else { fatalError("expected \(passes) peers to pass:\n\(text)") }
    }
}

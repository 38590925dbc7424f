import Glibc
import VXLANCore

/// One peer to probe: its address and the size of its full-size probe (an IP packet).
public struct ProbeTarget: Hashable, Sendable {
    public var address: IPAddress
    public var fullSize: Int

    public init(address: IPAddress, fullSize: Int) {
        self.address = address
        self.fullSize = fullSize
    }
}

/// Probes every target at once: one socket per address family, every pending probe sent
/// at each time of the timetable, answers and errors read with poll() as they come, until
/// every peer is settled or the deadline passes. The time taken does not grow with the
/// number of peers (until their replies fill the socket buffers).
public struct PathProber {
    /// The address each family's probes leave from (the VTEP's), or nil for the kernel's choice.
    public var sources: [IPAddress.Family: IPAddress]
    public var timetable: ProbeTimetable

    public init(sources: [IPAddress.Family: IPAddress], timetable: ProbeTimetable = .standard) {
        self.sources = sources
        self.timetable = timetable
    }

    /// What was seen for each target, in the targets' order.
    public func probe(_ targets: [ProbeTarget]) throws(ProbeError) -> [PeerObservation] {
        guard targets.count <= ICMPEcho.maximumPeers else {
            throw ProbeError("\(targets.count) peers: at most \(ICMPEcho.maximumPeers) can be probed at once")
        }
        var sockets: [EchoSocket] = []
        for family in [IPAddress.Family.ipv4, .ipv6] where targets.contains(where: { $0.address.family == family }) {
            sockets.append(try EchoSocket(family: family, source: sources[family]))
        }
        let index = Dictionary(targets.enumerated().map { ($1.address, $0) }) { first, _ in first }
        var observations = [PeerObservation](repeating: PeerObservation(), count: targets.count)
        let start = monotonicSeconds()
        var sendTimes = timetable.sendTimes[...]
        while true {
            let now = monotonicSeconds() - start
            if let due = sendTimes.first, now >= due {
                sendTimes.removeFirst()
                for (peer, target) in targets.enumerated() where !observations[peer].isSettled {
                    guard let socket = sockets.first(where: { $0.family == target.address.family }) else { continue }
                    for kind in observations[peer].pending {
                        let size = kind == .full ? target.fullSize : smallSize(target.address.family)
                        let sequence = ICMPEcho.sequence(peer: peer, kind: kind)
                        if let failure = socket.send(to: target.address, sequence: sequence, packetSize: size) {
                            observations[peer].record(failure)
                        }
                    }
                }
            }
            if now >= timetable.deadline || observations.allSatisfy(\.isSettled) { break }
            let wake = min(sendTimes.first ?? timetable.deadline, timetable.deadline)
            var descriptors = sockets.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(max(0, (wake - (monotonicSeconds() - start)) * 1000).rounded(.up))
            guard poll(&descriptors, nfds_t(descriptors.count), milliseconds) > 0 else { continue }
            for (socket, polled) in zip(sockets, descriptors) where polled.revents != 0 {
                for (address, sequence) in socket.receiveReplies() {
                    let probe = ICMPEcho.probe(ofSequence: sequence)
                    // A reply from an address other than the one probed is not an answer.
                    guard probe.peer < targets.count, targets[probe.peer].address == address else { continue }
                    observations[probe.peer].record(.answered(probe.kind))
                }
                for (address, sequence, event) in socket.receiveErrors() {
                    guard let peer = index[address] else { continue }
                    // An error quoting the small probe is never about the size.
                    if case .tooBig = event, let sequence, ICMPEcho.probe(ofSequence: sequence).kind == .small {
                        continue
                    }
                    observations[peer].record(event)
                }
            }
        }
        return observations
    }

    private func smallSize(_ family: IPAddress.Family) -> Int {
        PeerProbe.smallDataSize + ICMPEcho.headerSize + ICMPEcho.ipHeaderSize(family)
    }
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

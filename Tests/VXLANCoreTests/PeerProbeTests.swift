import Testing

@testable import VXLANCore

struct PeerProbeTests {
    func address(_ text: String) throws -> IPAddress { try #require(IPAddress(text)) }

    func observation(_ events: ProbeEvent...) -> PeerObservation {
        var observation = PeerObservation()
        for event in events { observation.record(event) }
        return observation
    }

    /// The probe is as large as the underlay packet of a full guest frame: the same
    /// arithmetic as `mtu = "auto"`, so an auto segment probes exactly the underlay MTU.
    @Test func testFullSizeIsSegmentMTUPlusTheFamilysOverhead() {
        #expect(PeerProbe.fullSize(segmentMTU: 1450, family: .ipv4) == 1500)
        #expect(PeerProbe.fullSize(segmentMTU: 1430, family: .ipv6) == 1500)
        #expect(PeerProbe.segmentMTU(policy: .auto, underlayMTU: 9000, family: .ipv4) == 8950)
        #expect(PeerProbe.segmentMTU(policy: .auto, underlayMTU: 9000, family: .ipv6) == 8930)
        #expect(PeerProbe.segmentMTU(policy: .fixed(1400), underlayMTU: 9000, family: .ipv6) == 1400)
        // No underlay: the kernel gives a vxlan device without a lower device 1500 - overhead.
        #expect(PeerProbe.segmentMTU(policy: .auto, underlayMTU: nil, family: .ipv6) == 1430)
    }

    @Test func testPeersAreRemotesThenFdbThenGivenEachOnceNeverOwnOrMulticast() throws {
        let peers = PeerProbe.peers(
            remotes: [try address("192.0.2.2"), try address("192.0.2.3")],
            forwarding: [try address("192.0.2.3"), try address("239.0.19.137"), try address("192.0.2.4")],
            given: [try address("2001:db8::9"), try address("192.0.2.1"), try address("192.0.2.2")],
            local: [try address("192.0.2.1")])
        #expect(peers.map(\.description) == ["192.0.2.2", "192.0.2.3", "192.0.2.4", "2001:db8::9"])
    }

    @Test func testAnsweredFullSizeProbePasses() {
        #expect(PeerVerdict(observation(.answered(.small), .answered(.full)), fullSize: 1500) == .pass)
        // A lost small probe does not matter when the large one came back.
        #expect(PeerVerdict(observation(.answered(.full)), fullSize: 1500) == .pass)
    }

    @Test func testICMPTooBigGivesThePathMTUAndWhoSaidIt() throws {
        let router = try address("10.0.0.254")
        let seen = observation(.answered(.small), .tooBig(mtu: 1500, reporter: router))
        #expect(PeerVerdict(seen, fullSize: 9000) == .pathCarries(mtu: 1500, reporter: router))
        // Several reports: the smallest MTU on the path is the one that counts.
        let twice = observation(
            .answered(.small), .tooBig(mtu: 4000, reporter: nil), .tooBig(mtu: 1400, reporter: router))
        #expect(PeerVerdict(twice, fullSize: 9000) == .pathCarries(mtu: 1400, reporter: router))
        // This host's own device or route (no reporter).
        #expect(
            PeerVerdict(observation(.answered(.small), .tooBig(mtu: 1500, reporter: nil)), fullSize: 9000)
                == .pathCarries(mtu: 1500, reporter: nil))
    }

    @Test func testSmallAnsweredFullSilentIsABlackHole() {
        #expect(PeerVerdict(observation(.answered(.small)), fullSize: 9000) == .blackHole)
        // A report that the path carries the full size explains nothing.
        #expect(
            PeerVerdict(observation(.answered(.small), .tooBig(mtu: 9000, reporter: nil)), fullSize: 9000)
                == .blackHole)
    }

    @Test func testNothingAnsweredIsUnreachableWithTheFirstReason() {
        #expect(PeerVerdict(observation(), fullSize: 1500) == .unreachable(nil))
        let refused = observation(.unreachable("No route to host"), .unreachable("Network is unreachable"))
        #expect(PeerVerdict(refused, fullSize: 1500) == .unreachable("No route to host"))
        // A router on the way said the path is too small, but the peer itself never
        // answered: that is the first thing to fix.
        #expect(PeerVerdict(observation(.tooBig(mtu: 1500, reporter: nil)), fullSize: 9000) == .unreachable(nil))
    }

    /// The prober stops early once every peer is settled; silence settles only at the deadline.
    @Test func testSettledAndPendingProbes() throws {
        #expect(!observation().isSettled)
        #expect(observation().pending == [.small, .full])
        #expect(!observation(.answered(.small)).isSettled)
        #expect(observation(.answered(.small)).pending == [.full])
        #expect(observation(.answered(.full)).isSettled)
        #expect(observation(.answered(.full)).pending == [.small])
        // Too big, but is the peer there at all? Wait for the small probe's answer.
        let tooBig = observation(.tooBig(mtu: 1500, reporter: nil))
        #expect(!tooBig.isSettled)
        #expect(tooBig.pending == [.small])
        #expect(observation(.tooBig(mtu: 1500, reporter: nil), .answered(.small)).isSettled)
        #expect(observation(.unreachable("No route to host")).isSettled)
    }

    @Test func testStandardTimetableRetriesThenWaitsBoundedTime() {
        let timetable = ProbeTimetable.standard
        #expect(timetable.sendTimes == [0, 0.5, 1.0, 1.5])
        #expect(timetable.deadline == 2.5)
    }

    @Test func testEachFailureNamesThePeerAndTheFix() throws {
        let peer = try address("10.0.2.2")
        let report = PeerReport(peer: peer, segmentMTU: 8950, configPath: "/etc/libvirt-vxlan/vxlan.conf")
        #expect(report.fullSize == 9000)

        let pass = report.result(.pass)
        #expect(pass.level == .pass)
        #expect(pass.message == "10.0.2.2: 9000-byte packets pass unfragmented (segment MTU 8950 + 50)")

        let small = report.result(.pathCarries(mtu: 1500, reporter: try address("10.0.0.254")))
        #expect(small.level == .fail)
        #expect(
            small.message
                == "the path to 10.0.2.2 carries at most 1500 bytes (ICMP from 10.0.0.254); VXLAN with segment MTU 8950 needs 9000"
        )
        #expect(
            small.fix
                == "lower mtu in /etc/libvirt-vxlan/vxlan.conf to 1450 (mtu = 1450), or raise the MTU of every link on the path to 10.0.2.2 to 9000"
        )

        let hole = report.result(.blackHole)
        #expect(hole.level == .fail)
        #expect(hole.message.hasPrefix("full-size packets to 10.0.2.2 are lost without an ICMP error (black hole)"))
        #expect(hole.fix?.contains("must pass ICMP fragmentation-needed") == true)

        let down = report.result(.unreachable(nil))
        #expect(down.message == "10.0.2.2 is unreachable: no answer to ICMP echo")
        #expect(down.fix?.contains("ip route get 10.0.2.2") == true)
    }

    @Test func testIPv6FixSubtractsSeventy() throws {
        let report = PeerReport(peer: try address("fd02::2"), segmentMTU: 8930, configPath: "vxlan.conf")
        let small = report.result(.pathCarries(mtu: 1500, reporter: nil))
        #expect(small.message.contains("(the MTU of this host's interface)"))
        #expect(small.fix?.hasPrefix("lower mtu in vxlan.conf to 1430 (mtu = 1430)") == true)
        #expect(report.result(.blackHole).fix?.contains("ICMP packet-too-big") == true)
    }
}

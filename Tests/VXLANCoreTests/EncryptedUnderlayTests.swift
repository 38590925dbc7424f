import Testing

@testable import VXLANCore

struct EncryptedUnderlayTests {
    private func address(_ text: String) throws -> IPAddress { try #require(IPAddress(text)) }

    /// `wg show DEV allowed-ips`: one line per peer, key, tab, networks or "(none)".
    @Test func testAllowedIPsOfEveryPeerAreRead() {
        let output = """
            xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\t10.0.0.2/32 192.0.2.0/24
            TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\t(none)
            gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=\tfd00::3/128

            """
        #expect(
            EncryptedUnderlay.allowedIPs(parsingWGShow: output).map(\.description) == [
                "10.0.0.2/32", "192.0.2.0/24", "fd00::3/128",
            ])
    }

    @Test func testMulticastOverAPointToPointUnderlayFails() throws {
        let verdict = try #require(EncryptedUnderlay.modeCheck(mode: .multicast, underlay: "wg0", pointToPoint: true))
        #expect(verdict.level == .fail)
        #expect(verdict.message.hasPrefix("mode = \"multicast\" over wg0, a point-to-point device"))
        #expect(verdict.fix?.contains("mode = \"unicast\"") == true)
        #expect(EncryptedUnderlay.modeCheck(mode: .unicast, underlay: "wg0", pointToPoint: true)?.level == .pass)
        #expect(EncryptedUnderlay.modeCheck(mode: .evpn, underlay: "wg0", pointToPoint: true)?.level == .pass)
        #expect(EncryptedUnderlay.modeCheck(mode: .multicast, underlay: "eth1", pointToPoint: false) == nil)
    }

    /// WireGuard drops what it would send to an address no peer allows.
    @Test func testRemotesOutsideEveryPeersAllowedIPsFail() throws {
        let allowed = [try #require(IPNetwork("10.0.0.2/32")), try #require(IPNetwork("10.1.0.0/16"))]
        let inside = EncryptedUnderlay.remotesCheck(
            [try address("10.0.0.2"), try address("10.1.200.3")], allowedIPs: allowed, device: "wg0")
        #expect(inside.level == .pass)
        let outside = EncryptedUnderlay.remotesCheck(
            [try address("10.0.0.2"), try address("10.0.0.3"), try address("fd00::2")], allowedIPs: allowed,
            device: "wg0")
        #expect(outside.level == .fail)
        #expect(
            outside.message.hasPrefix(
                "remotes 10.0.0.3, fd00::2 outside every allowed IP of wg0's peers (10.0.0.2/32, 10.1.0.0/16)"))
    }

    @Test(arguments: [
        ("10.1.0.0/16", "10.1.255.255", true), ("10.1.0.0/16", "10.2.0.0", false), ("10.0.0.2/32", "10.0.0.2", true),
        ("0.0.0.0/0", "203.0.113.9", true), ("0.0.0.0/0", "::1", false), ("fd00::/8", "fd12::1", true),
        ("192.0.2.77/24", "192.0.2.1", true),
    ])
    func testNetworkContainsAnAddress(network: String, address: String, contained: Bool) throws {
        #expect(try #require(IPNetwork(network)).contains(try self.address(address)) == contained)
    }
}

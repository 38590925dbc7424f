import Foundation
import NamespaceTestSupport
import Testing

/// Releases mark their VNI's teardown and a detached reaper deletes the marked segments
/// in batches (`SegmentLifecycle.reap`), with the built hook in a namespace.
@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct BatchedTeardownTests {
    /// A host emptied: 24 guests, each the last user of its VNI, released back to back.
    /// Afterwards exactly the namespace's own links are left, and no record or mark.
    @Test func testReleasesBackToBackEndWithNoLinkLeft() throws {
        // Unicast: multicast would stop at the namespace's 20 IGMP memberships.
        let host = try HookHost(
            "evacuate", config: "underlay = \"ul0\"\nmode = \"unicast\"\nremotes = [\"192.0.2.2\"]\n")
        let before = try host.namespace.linkNames()
        let guests = (0..<24).map { domainXML("g\($0)", uuid: uuid($0), bridges: ["brvx-\(5100 + $0)"]) }
        for (index, xml) in guests.enumerated() {
            #expect(try host.hook("qemu", "g\(index)", "prepare", "begin", input: xml).status == 0)
        }
        #expect(try host.namespace.linkNames().count == before.count + 48)
        for (index, xml) in guests.enumerated() {
            let release = try host.hook("qemu", "g\(index)", "release", "end", input: xml)
            #expect(release.status == 0, "\(release.errors)")
        }
        host.settle()
        #expect(try host.namespace.linkNames() == before)
        #expect(host.pending.isEmpty)
        #expect((0..<24).allSatisfy { host.users(5100 + $0).isEmpty })
    }

    /// A guest started again while its VNI's teardown is pending (or being reaped) gets a
    /// complete segment, taken back or rebuilt, which the reaper then leaves alone.
    @Test func testPrepareDuringAPendingTeardownGetsAWorkingSegment() throws {
        let host = try HookHost("takeback")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        let others = (2..<8).map { domainXML("g\($0)", uuid: uuid($0), bridges: ["brvx-\(5000 + $0)"]) }
        for (offset, other) in others.enumerated() {
            #expect(try host.hook("qemu", "g\(offset + 2)", "prepare", "begin", input: other).status == 0)
        }
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        for (offset, other) in others.enumerated() {
            #expect(try host.hook("qemu", "g\(offset + 2)", "release", "end", input: other).status == 0)
        }
        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        #expect(host.pending.contains("5001"), "the reaper ran before the test could look")
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        #expect(try host.segmentIsComplete(5001))
        host.settle()
        #expect(try host.segmentIsComplete(5001), "the reaper deleted a segment taken back")
        #expect(try host.namespace.link("brvx-5001")?["group"] as? String == "1979716489")
        #expect(host.users(5001) == ["domain-\(uuid(1))"])
        #expect(try (2..<8).allSatisfy { try !host.exists("brvx-\(5000 + $0)") })
    }

    /// An operator's bridges that sit in libvirt-vxlan's groups, the reaping group and a
    /// VNI's, survive every teardown; the segments around them go.
    @Test func testForeignBridgesInOurGroupsAreNeverDeleted() throws {
        let host = try HookHost("foreign-group")
        try host.namespace.ip("link", "add", "op-reaping", "group", "1979711488", "type", "bridge")
        try host.namespace.ip("link", "add", "op-vni", "group", "1979716489", "type", "bridge")
        let guests = (1...3).map { domainXML("g\($0)", uuid: uuid($0), bridges: ["brvx-\(5000 + $0)"]) }
        for (offset, xml) in guests.enumerated() {
            #expect(try host.hook("qemu", "g\(offset + 1)", "prepare", "begin", input: xml).status == 0)
        }
        for (offset, xml) in guests.enumerated() {
            #expect(try host.hook("qemu", "g\(offset + 1)", "release", "end", input: xml).status == 0)
        }
        host.settle()
        #expect(try host.exists("op-reaping") && host.exists("op-vni"))
        #expect(try (1...3).allSatisfy { try !host.exists("brvx-\(5000 + $0)") && !host.exists("vxlan\(5000 + $0)") })
        #expect(host.pending.isEmpty)
    }
}

import Testing

@testable import VXLANCore

struct HookCallTests {
    /// libvirt's documented phases (docs/hooks.rst), each with what we must do.
    static let table: [(HookCall.Driver, String, String, HookAction)] = [
        (.qemu, "prepare", "begin", .prepareDomain),
        (.qemu, "start", "begin", .ignore),
        (.qemu, "started", "begin", .ignore),
        (.qemu, "stopped", "end", .ignore),
        (.qemu, "release", "end", .releaseDomain),
        (.qemu, "migrate", "begin", .checkDomain),
        (.qemu, "restore", "begin", .checkDomain),
        (.qemu, "reconnect", "begin", .reconnectDomain),
        (.qemu, "attach", "begin", .reconnectDomain),
        (.qemu, "prepare", "end", .ignore),
        (.qemu, "something-new", "begin", .ignore),
        (.network, "start", "begin", .startNetwork),
        (.network, "started", "begin", .ignore),
        (.network, "port-created", "begin", .plugPort),
        (.network, "port-deleted", "begin", .unplugPort),
        (.network, "stopped", "end", .stopNetwork),
        (.network, "updated", "begin", .ignore),
        (.network, "prepare", "begin", .ignore),
    ]

    @Test(arguments: table)
    func testEveryPhaseHasItsAction(driver: HookCall.Driver, operation: String, sub: String, action: HookAction) {
        #expect(HookCall(driver: driver, object: "g", operation: operation, subOperation: sub).action == action)
    }

    /// `HookCall.actedOn` is the table the C launcher's is generated from: each phase once,
    /// none of them ignored, every word printable ASCII without spaces.
    @Test func testTheActedOnTableIsOneEntryPerPhase() {
        let phases = HookCall.actedOn.map { "\($0.driver) \($0.operation) \($0.subOperation)" }
        #expect(Set(phases).count == phases.count)
        #expect(HookCall.actedOn.allSatisfy { $0.action != .ignore })
        let words = HookCall.actedOn.flatMap { [$0.operation, $0.subOperation] }
        #expect(words.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { (0x21...0x7E).contains($0) } })
        // Every action but .ignore has a phase.
        #expect(Set(HookCall.actedOn.map(\.action)) == Set(HookAction.allCases).subtracting([.ignore]))
    }

    @Test(arguments: [
        ("/etc/libvirt/hooks/qemu.d/50-libvirt-vxlan", HookCall.Driver.qemu),
        ("/etc/libvirt/hooks/network.d/50-libvirt-vxlan", .network),
        ("qemu.d/h", .qemu),
        ("/etc/libvirt/hooks/qemu.d//h", nil),
        ("/etc/libvirt/hooks/qemu/h", nil),
        ("/etc/libvirt/hooks/lxc.d/h", nil),
        ("qemu.d", nil),
        ("", nil),
    ])
    func testTheDriverIsTheEntrysFolder(path: String, driver: HookCall.Driver?) {
        #expect(HookCall.Driver(entryPath: path) == driver)
        #expect(HookCall.Driver.allCases.map(\.folder) == ["qemu.d", "network.d"])
    }

    /// A begin call whose failure aborts libvirt's operation fails only where a failure is
    /// meaningful; teardown phases and reconnect never fail (libvirt ignores them, or
    /// would kill a running guest).
    @Test func testOnlyStartingPhasesMayStopLibvirt() {
        let stopping = HookAction.allCases.filter(\.failureStopsLibvirt)
        #expect(Set(stopping) == [.prepareDomain, .checkDomain, .startNetwork, .plugPort])
    }

    /// libvirt >= 10.5 passes the reason of release in $4; the action does not depend on it.
    @Test(arguments: ["-", "failed", "migrated", "saved", "shutdown"])
    func testReleaseReasonDoesNotChangeTheAction(reason: String) {
        let call = HookCall(driver: .qemu, object: "g", operation: "release", subOperation: "end", extra: reason)
        #expect(call.action == .releaseDomain)
    }
}

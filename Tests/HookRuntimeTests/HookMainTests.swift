import Foundation
import NamespaceTestSupport
import Testing
import VXLANCore

@testable import HookRuntime
@testable import Metrics

struct HookMainTests {
    @Test(arguments: [
        ("/etc/libvirt/hooks/qemu.d/50-libvirt-vxlan", HookCall.Driver.qemu),
        ("/etc/libvirt/hooks/network.d/50-libvirt-vxlan", .network),
        ("hooks/qemu.d/50-libvirt-vxlan", .qemu),
    ])
    func testDriverIsTheFolderTheHookIsCalledFrom(path: String, driver: HookCall.Driver) throws {
        let call = try HookMain.parse([path, "guest1", "prepare", "begin", "-"]).get()
        #expect(call == HookCall(driver: driver, object: "guest1", operation: "prepare", subOperation: "begin"))
    }

    @Test func testKindFlagOverridesTheFolder() throws {
        let call = try HookMain.parse(["/usr/libexec/x", "--kind", "network", "net1", "stopped", "end", "-"]).get()
        #expect(call.driver == .network && call.object == "net1" && call.action == .stopNetwork)
    }

    @Test func testReleaseReasonIsKept() throws {
        let call = try HookMain.parse(["qemu.d/h", "g", "release", "end", "migrated"]).get()
        #expect(call.extra == "migrated")
    }

    @Test(arguments: [
        ["/usr/bin/hook", "g", "prepare", "begin", "-"],
        ["qemu.d/h", "g", "prepare"],
        ["qemu.d/h", "--kind", "lxc", "g", "prepare", "begin", "-"],
        ["qemu.d/h", "g", "prepare", "begin", "-", "extra"],
    ])
    func testBadArgumentsAreUsageErrors(arguments: [String]) {
        guard case .failure(let usage) = HookMain.parse(arguments) else {
            Issue.record("accepted \(arguments)")
            return
        }
        #expect(!usage.message.isEmpty)
    }

    @Test func testIgnoredPhaseReturnsAtOnceWithoutReadingInput() throws {
        let folder = try TemporaryFolder()
        let state = StateDirectory(path: folder.path)
        var reads = 0
        let input = { () -> [UInt8] in
            reads += 1
            return []
        }
        #expect(HookMain.run(["qemu.d/h", "g", "started", "begin", "-"], input: input, counters: state) == 0)
        #expect(HookMain.run(["network.d/h", "n", "updated", "begin", "-"], input: input, counters: state) == 0)
        #expect(reads == 0)
        // The same call for a phase we act on does read it (and fails on empty XML).
        #expect(HookMain.run(["qemu.d/h", "g", "prepare", "begin", "-"], input: input, counters: state) == 1)
        #expect(reads == 1)
    }

    /// Each acted-on call adds one to its phase and outcome and one observation to its
    /// phase's duration histogram; ignored calls count nowhere.
    @Test func testCallsAreCountedByPhaseAndOutcome() throws {
        let folder = try TemporaryFolder()
        let state = StateDirectory(path: folder.path)
        let empty = { () -> [UInt8] in [] }
        _ = HookMain.run(["qemu.d/h", "g", "started", "begin", "-"], input: empty, counters: state)
        _ = HookMain.run(["qemu.d/h", "g", "prepare", "begin", "-"], input: empty, counters: state)
        _ = HookMain.run(["qemu.d/h", "g", "prepare", "begin", "-"], input: empty, counters: state)
        _ = HookMain.run(["network.d/h", "n", "stopped", "end", "-"], input: empty, counters: state)
        let slots = try #require(CounterFile.open(in: state)).snapshot()
        // What vxlanctl metrics reads, without mapping or creating anything.
        #expect(CounterFile.read(in: state) == slots)
        let prepare = try #require(
            HookPhase(HookCall(driver: .qemu, object: "g", operation: "prepare", subOperation: "begin")))
        let stopped = try #require(
            HookPhase(HookCall(driver: .network, object: "n", operation: "stopped", subOperation: "end")))
        #expect(slots[CounterLayout.hookCall(prepare, .refused)] == 2)
        #expect(slots[CounterLayout.hookCall(prepare, .ok)] == 0)
        #expect(slots[CounterLayout.hookCall(stopped, .refused)] == 1)
        let text = renderMetrics(CounterLayout.families(slots))
        #expect(text.contains(#"libvirt_vxlan_hook_duration_seconds_count{driver="qemu",phase="prepare"} 2"#))
        #expect(text.contains(#"libvirt_vxlan_hook_calls_total{driver="qemu",phase="release",outcome="ok"} 0"#))
        // Every other phase and outcome stays at zero.
        let calls = HookPhase.all.flatMap { phase in
            HookOutcome.allCases.map { slots[CounterLayout.hookCall(phase, $0)] }
        }
        #expect(calls.reduce(0, +) == 3)
    }

    /// The launcher's start time counts when it is sane; anything else is the worker's own.
    @Test(arguments: [
        ("1000000", 1_000_000), ("999000", 999_000), ("", 1_000_000), ("1000001", 1_000_000), ("12x", 1_000_000),
        ("-5", 1_000_000), ("99999999999999999999999", 1_000_000),
    ])
    func testLaunchersStartTimeIsUsedWhenSane(text: String, expected: Int) {
        #expect(text.withCString { HookMain.startTime(launcher: $0, now: 1_000_000) } == expected)
        #expect(HookMain.startTime(launcher: nil, now: 1_000_000) == 1_000_000)
    }

    /// A counters file of another layout (a size it cannot have, another magic) is left
    /// alone: the call is not counted, and not failed.
    @Test func testForeignCountersFileIsNeverWritten() throws {
        let folder = try TemporaryFolder()
        let state = StateDirectory(path: folder.path)
        try state.makeFolders("metrics")
        let foreign = [UInt8](repeating: 7, count: CounterLayout.byteCount)
        #expect(FileManager.default.createFile(atPath: state.countersPath, contents: Data(foreign)))
        #expect(CounterFile.open(in: state) == nil)
        #expect(CounterFile.read(in: state).isEmpty)
        #expect(CounterFile.read(in: StateDirectory(path: folder.path + "/absent")).isEmpty)
        #expect(HookMain.run(["qemu.d/h", "g", "prepare", "begin", "-"], input: { [] }, counters: state) == 1)
        #expect(FileManager.default.contents(atPath: state.countersPath) == Data(foreign))
    }
}

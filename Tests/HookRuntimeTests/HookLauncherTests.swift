import Foundation
import NamespaceTestSupport
import Testing
import VXLANCore

@testable import HookRuntime

/// The C program libvirt runs (Sources/hook-launcher): built here with the C compiler, next
/// to a stand-in worker that reports how it was called (argv and stdin). It must hand every call the Swift
/// hook acts on to the worker, unchanged, and answer every other call itself.
struct HookLauncherTests {
    let folder: TemporaryFolder
    let launcher: String

    init() throws {
        folder = try TemporaryFolder()
        launcher = folder.path + "/libvirt-vxlan-hook"
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/hook-launcher/libvirt-vxlan-hook.c").path
        try run("cc", "-O2", "-Wall", "-Wextra", "-Werror", source, "-o", launcher)
        // A stand-in worker in C: a script's $0 would be its own path, not the argv[0] it got.
        let worker = try folder.write(
            "worker.c",
            """
            #include <stdio.h>
            int main(int argc, char **argv) {
                printf("worker");
                for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
                printf(" stdin:");
                for (int c; (c = getchar()) != EOF;) putchar(c);
                return 0;
            }
            """)
        try run("cc", worker, "-o", folder.path + "/libvirt-vxlan-hook-worker")
    }

    /// Every pairing of libvirt's operation and sub-operation words (the table's and others,
    /// known or not), for both drivers: the launcher and `HookCall.action` agree on each.
    @Test func theLauncherHandsExactlyTheCallsTheHookActsOnToTheWorker() throws {
        let operations = Set(
            HookCall.actedOn.map(\.operation) + [
                "start", "started", "stopped", "release", "updated", "something-new", "prepar", "prepare ", "",
            ])
        let subs = Set(HookCall.actedOn.map(\.subOperation) + ["begin", "end", "-", "Begin", ""])
        for driver in HookCall.Driver.allCases {
            for operation in operations {
                for sub in subs {
                    let acts =
                        HookCall(driver: driver, object: "g", operation: operation, subOperation: sub).action != .ignore
                    let result = try capture(
                        [launcher, "--kind", driver.rawValue, "g", operation, sub, "-"], input: Array("<domain/>".utf8))
                    #expect(result.status == 0, "\(driver) \(operation) \(sub)")
                    let expected =
                        acts ? "worker \(launcher) --kind \(driver) g \(operation) \(sub) - stdin:<domain/>" : ""
                    #expect(result.output == expected, "\(driver) '\(operation)' '\(sub)'")
                }
            }
        }
    }

    /// The driver is the folder of the entry libvirt ran, and the launcher and the worker's
    /// parser read it from the same paths alike: each path is run as the launcher's argv[0]
    /// for every call the worker acts on, and hands over exactly those the worker would act on
    /// with `HookMain.parse`'s driver (all of them, for the worker to refuse, without one).
    @Test(arguments: [
        ("/etc/libvirt/hooks/qemu.d/50-libvirt-vxlan", HookCall.Driver.qemu),
        ("/etc/libvirt/hooks/network.d/50-libvirt-vxlan", .network),
        ("hooks/qemu.d/50-libvirt-vxlan", .qemu),
        ("qemu.d/50-libvirt-vxlan", .qemu),
        ("network.d/qemu.d/50-libvirt-vxlan", .qemu),
        ("/etc/libvirt/hooks/network.d/", .network),
        ("/etc/libvirt/hooks/qemu.d//50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/qemu.d/sub/50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/qemu/50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/qemu", nil),
        ("/etc/libvirt/hooks/lxc.d/50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/QEMU.d/50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/xqemu.d/50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/qemu.d.bak/50-libvirt-vxlan", nil),
        ("/etc/libvirt/hooks/.d/50-libvirt-vxlan", nil),
        ("/usr/libexec/libvirt-vxlan/libvirt-vxlan-hook", nil),
        ("/qemu.d", nil),
        ("qemu.d", nil),
        ("50-libvirt-vxlan", nil),
        ("/", nil),
        ("", nil),
    ])
    func theLauncherAndTheWorkerTellTheDriverFromTheSamePaths(path: String, driver: HookCall.Driver?) throws {
        let parsed = try? HookMain.parse([path, "g", "prepare", "begin", "-"]).get()
        #expect(parsed?.driver == driver)
        // argv[0] is whatever libvirt passed: a helper executes the launcher with it.
        let helper = try folder.write(
            "exec-as.c",
            """
            #include <unistd.h>
            int main(int argc, char **argv) { if (argc > 2) execv(argv[1], argv + 2); return 127; }
            """)
        try run("cc", helper, "-o", folder.path + "/exec-as")
        for phase in HookCall.actedOn {
            let call = ["g", phase.operation, phase.subOperation, "-"]
            // Without a driver the worker refuses the call with its usage: it must get it.
            let workerActs =
                switch HookMain.parse([path] + call) {
                case .success(let parsed): parsed.action != .ignore
                case .failure: true
                }
            let handed = try capture([folder.path + "/exec-as", launcher, path] + call).output
            let expected = "worker \(path) \(call.joined(separator: " ")) stdin:"
            #expect(handed == (workerActs ? expected : ""), "\(path.debugDescription) \(call)")
        }
    }

    /// Installed as hooks/qemu.d/50-libvirt-vxlan: the driver is the folder's, and the
    /// worker sees the entry's path as its argv[0], as it would without the launcher.
    @Test func theDriverIsTheFolderTheEntryIsIn() throws {
        for (driver, acted, ignored) in [
            ("qemu", "release end", "started begin"), ("network", "stopped end", "started end"),
        ] {
            try FileManager.default.createDirectory(
                atPath: "\(folder.path)/\(driver).d", withIntermediateDirectories: true)
            let entry = "\(folder.path)/\(driver).d/50-libvirt-vxlan"
            try FileManager.default.createSymbolicLink(atPath: entry, withDestinationPath: launcher)
            let acting = acted.split(separator: " ").map(String.init)
            #expect(try capture([entry, "g"] + acting + ["-"]).output == "worker \(entry) g \(acted) - stdin:")
            #expect(try capture([entry, "g"] + ignored.split(separator: " ").map(String.init) + ["-"]).output == "")
        }
    }

    /// Anything malformed is the worker's to refuse: it prints the usage and fails.
    @Test(arguments: [["--kind", "lxc", "g", "prepare", "begin", "-"], ["g", "prepare", "begin", "-"], ["--kind"]])
    func aMalformedCallGoesToTheWorker(arguments: [String]) throws {
        #expect(try capture([launcher] + arguments).output.hasPrefix("worker \(launcher)"))
    }

    @Test func aMissingWorkerFailsTheCallWithOneLine() throws {
        try FileManager.default.removeItem(atPath: folder.path + "/libvirt-vxlan-hook-worker")
        let result = try capture([launcher, "--kind", "qemu", "g", "prepare", "begin", "-"])
        #expect(result.status == 1)
        #expect(
            result.errors
                == "libvirt-vxlan: cannot run \(folder.path)/libvirt-vxlan-hook-worker: No such file or directory\n")
        #expect(try capture([launcher, "--kind", "qemu", "g", "started", "begin", "-"]).status == 0)
    }
}

extension HookLauncherTests {
    /// Apart from the launcher's build (init), which needs the header.
    struct GeneratedHeader {
        /// The launcher's rules are acted-phases.h, generated from the Swift ones: a change to
        /// `HookCall.actedOn` or `HookCall.Driver` fails here until the header is regenerated.
        @Test func theCommittedHeaderIsTheSwiftTable() throws {
            let generated = LauncherHeader.text
            if ProcessInfo.processInfo.environment[LauncherHeader.regenerateVariable] != nil {
                try generated.write(toFile: LauncherHeader.path, atomically: true, encoding: .utf8)
            }
            let committed = try String(contentsOfFile: LauncherHeader.path, encoding: .utf8)
            #expect(
                committed == generated,
                """
                \(LauncherHeader.path) is not HookCall.swift's table: regenerate it with
                \(LauncherHeader.regenerateCommand)
                """)
        }
    }
}

import Foundation
import NamespaceTestSupport
import Testing
import VXLANCore

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

    /// Every pairing of libvirt's operation and sub-operation words, known or not, for
    /// both drivers: the launcher's table and `HookCall.action` agree on each.
    @Test func theLauncherHandsExactlyTheCallsTheHookActsOnToTheWorker() throws {
        let operations = [
            "prepare", "start", "started", "stopped", "release", "migrate", "restore", "reconnect", "attach",
            "port-created", "port-deleted", "updated", "something-new",
        ]
        for driver in HookCall.Driver.allCases {
            for operation in operations {
                for sub in ["begin", "end", "-"] {
                    let acts =
                        HookCall(driver: driver, object: "g", operation: operation, subOperation: sub).action != .ignore
                    let result = try capture(
                        [launcher, "--kind", driver.rawValue, "g", operation, sub, "-"], input: Array("<domain/>".utf8))
                    #expect(result.status == 0, "\(driver) \(operation) \(sub)")
                    let expected =
                        acts ? "worker \(launcher) --kind \(driver) g \(operation) \(sub) - stdin:<domain/>" : ""
                    #expect(result.output == expected, "\(driver) \(operation) \(sub)")
                }
            }
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

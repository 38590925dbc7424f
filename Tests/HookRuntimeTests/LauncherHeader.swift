import Foundation
import VXLANCore

/// Sources/hook-launcher/acted-phases.h, the C launcher's copy of the hook's rules, as
/// generated from the Swift ones: `HookCall.Driver` (names and folders) and
/// `HookCall.actedOn` (the calls the worker acts on). HookLauncherTests fails while the
/// committed file differs from `text`, and writes it with `regenerate` set.
enum LauncherHeader {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/hook-launcher/acted-phases.h").path

    /// Set, the test writes the header instead of comparing it.
    static let regenerateVariable = "LIBVIRT_VXLAN_WRITE_LAUNCHER_HEADER"
    static let regenerateCommand =
        "\(regenerateVariable)=1 swift test --filter HookLauncherTests.GeneratedHeader"

    /// The words as C string literals, each character printable ASCII (a quote or a
    /// backslash escaped): the words of libvirt's hook calls are plain ASCII.
    static func literal(_ word: String) -> String {
        "\"" + word.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }

    static var text: String {
        let drivers = HookCall.Driver.allCases.map { "    {\(literal($0.rawValue)), \(literal($0.folder))}," }
        let phases = HookCall.actedOn.map {
            "    {\(literal($0.driver.rawValue)), \(literal($0.operation)), \(literal($0.subOperation))},"
        }
        return """
            /*
             * Generated from Sources/VXLANCore/HookCall.swift (HookCall.Driver, HookCall.actedOn) by
             * Tests/HookRuntimeTests/LauncherHeader.swift: do not edit. After a change there, run
             *     \(regenerateCommand)
             * and commit the result; HookLauncherTests fails while this file differs from the Swift.
             */

            /* Each driver, and the folder whose hook entries it runs: hooks/<folder>/50-libvirt-vxlan. */
            static const struct hook_driver {
                const char *name;
                const char *folder;
            } hook_drivers[] = {
            \(drivers.joined(separator: "\n"))
            };

            /* The calls the worker acts on; the launcher answers every other one itself (exit 0). */
            static const struct acted_phase {
                const char *driver;
                const char *operation;
                const char *sub_operation;
            } acted_phases[] = {
            \(phases.joined(separator: "\n"))
            };

            """
    }
}

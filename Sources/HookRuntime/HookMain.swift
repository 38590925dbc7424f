import Glibc
import Lifecycle
import VXLANCore

/// The hook process from argv to exit status:
/// `argv + stdin -> HookCall -> HookRunner -> SegmentLifecycle -> exit status`.
public enum HookMain {
    public static func run(_ arguments: [String]) -> Int32 {
        run(arguments, input: readStandardInput)
    }

    /// `input` reads libvirt's XML: stdin, or a test's stand-in.
    static func run(_ arguments: [String], input readInput: () throws -> [UInt8]) -> Int32 {
        let call: HookCall
        switch parse(arguments) {
        case .success(let parsed): call = parsed
        case .failure(let usage):
            writeStandardError("libvirt-vxlan-hook: \(usage.message)\n")
            return 2
        }
        // Phases we do not act on return before reading anything: libvirt ignores the
        // EPIPE on the stdin we leave unread.
        guard call.action != .ignore else { return 0 }

        let journal = Journal(echo: getenv("LIBVIRT_VXLAN_HOOK_ECHO") != nil)
        do {
            let input = try readInput()
            let config: Config
            do { config = try ConfigFile.load() } catch {
                // A broken configuration stops only what concerns a segment of ours (told by
                // the default names): everyone else's guests and networks still start.
                guard HookRunner.concerns(call, input: input, under: Config()) else {
                    journal.log(
                        .warning,
                        "\(call.driver) \(call.operation) \(call.subOperation) \(call.object.escapedForMessage): "
                            + "\(error); no VXLAN segment concerned, allowed")
                    return 0
                }
                throw error
            }
            let host = try SegmentHost.open(
                journal: journal, reaper: .detached, openvswitchTimeout: config.openvswitch.timeoutMilliseconds)
            try HookRunner(config: config, lifecycle: host.lifecycle, journal: journal).run(call, input: input)
            return 0
        } catch {
            let message = "\(error)"
            journal.log(
                .error,
                "\(call.driver) \(call.operation) \(call.subOperation) \(call.object.escapedForMessage): \(message)")
            guard call.action.failureStopsLibvirt else { return 0 }
            // One line: libvirt shows the hook's stderr to whoever ran virsh.
            writeStandardError("libvirt-vxlan: \(message)\n")
            return 1
        }
    }

    struct Usage: Error {
        var message: String

        /// `qemu|network`: built only for a message, never on the way to an answer.
        static var kinds: String { HookCall.Driver.allCases.map(\.rawValue).joined(separator: "|") }
    }

    /// `[--kind qemu|network] OBJECT OPERATION SUBOPERATION [EXTRA]`. Without --kind the
    /// driver is the folder the hook was called from (`HookCall.Driver(entryPath:)`).
    static func parse(_ arguments: [String]) -> Result<HookCall, Usage> {
        var rest = Array(arguments.dropFirst())
        var driver = HookCall.Driver(entryPath: arguments.first ?? "")
        if rest.first == "--kind" {
            guard rest.count >= 2, let named = HookCall.Driver(rawValue: rest[1]) else {
                return .failure(Usage(message: "--kind takes \(Usage.kinds)"))
            }
            driver = named
            rest.removeFirst(2)
        }
        guard let driver else {
            let folders = HookCall.Driver.allCases.map { "hooks/\($0.folder)" }.joined(separator: " or ")
            return .failure(Usage(message: "install me in \(folders), or pass --kind \(Usage.kinds)"))
        }
        guard (3...4).contains(rest.count) else {
            return .failure(Usage(message: "usage: [--kind \(Usage.kinds)] OBJECT OPERATION SUBOPERATION [EXTRA]"))
        }
        return .success(
            HookCall(
                driver: driver, object: rest[0], operation: rest[1], subOperation: rest[2],
                extra: rest.count == 4 ? rest[3] : "-"))
    }

    struct InputError: Error, CustomStringConvertible {
        var description: String
    }

    static func readStandardInput() throws -> [UInt8] {
        do {
            return try readAll(from: STDIN_FILENO, limit: inputSizeLimit)
        } catch {
            throw InputError(description: "libvirt's XML on stdin: \(error)")
        }
    }
}

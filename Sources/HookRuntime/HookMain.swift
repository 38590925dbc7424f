import Glibc
import Lifecycle
import VXLANCore

/// The hook process from argv to exit status:
/// `argv + stdin -> HookCall -> HookRunner -> SegmentLifecycle -> exit status`.
public enum HookMain {
    public static func run(_ arguments: [String]) -> Int32 {
        run(arguments, input: readStandardInput)
    }

    /// `input` reads libvirt's XML: stdin, or a test's stand-in; `counters`: where the
    /// call is counted (tests: a temporary state folder).
    static func run(
        _ arguments: [String], input readInput: () throws -> [UInt8], counters: StateDirectory = .fromEnvironment()
    ) -> Int32 {
        let started = startTime(launcher: getenv(startVariable), now: monotonicMicroseconds())
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
        let (status, outcome) = act(call, input: readInput)
        count(call, outcome, since: started, in: counters)
        return status
    }

    /// Set by the launcher (Sources/hook-launcher) to the monotonic microseconds at which
    /// it executed this worker.
    static let startVariable = "LIBVIRT_VXLAN_HOOK_STARTED"

    /// When the call started: the launcher's time, if it gave a sane one (decimal, not in
    /// the future, less than an hour ago), else `now` (the worker run directly).
    static func startTime(launcher text: UnsafePointer<CChar>?, now: Int) -> Int {
        guard var digit = text, digit.pointee != 0 else { return now }
        var value = 0
        while digit.pointee != 0 {
            let code = Int(digit.pointee) - 48
            guard (0...9).contains(code), value < Int.max / 10 - 9 else { return now }
            value = value * 10 + code
            digit += 1
        }
        return value <= now && now - value < 3_600_000_000 ? value : now
    }

    /// Adds the call to the counters file (`CounterFile`): its phase and outcome, and how
    /// long it took. Never fails the call.
    static func count(_ call: HookCall, _ outcome: HookOutcome, since started: Int, in state: StateDirectory) {
        guard let phase = HookPhase(call), let counters = CounterFile.open(in: state) else { return }
        let microseconds = max(0, monotonicMicroseconds() - started)
        counters.add(CounterLayout.hookCall(phase, outcome))
        counters.add(CounterLayout.hookDurationBucket(phase, microseconds: microseconds))
        counters.add(CounterLayout.hookDurationSum(phase), UInt64(microseconds))
    }

    /// The call acted on: its exit status, and how it ended for the counters.
    private static func act(_ call: HookCall, input readInput: () throws -> [UInt8]) -> (Int32, HookOutcome) {
        let journal = Journal(
            echo: getenv("LIBVIRT_VXLAN_HOOK_ECHO") != nil, phase: call.operation,
            subject: call.driver == .qemu ? .domain(call.object) : .network(call.object))
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
                            + "\(error); no VXLAN segment concerned, allowed", LogEvent(.notice, outcome: "allowed"))
                    return (0, .ok)
                }
                throw error
            }
            let host = try SegmentHost.open(
                journal: journal, reaper: .detached, openvswitchTimeout: config.openvswitch.timeoutMilliseconds)
            return (
                0, try HookRunner(config: config, lifecycle: host.lifecycle, journal: journal).run(call, input: input)
            )
        } catch {
            let message = "\(error)"
            let outcome = Self.outcome(of: error)
            journal.log(
                .error,
                "\(call.driver) \(call.operation) \(call.subOperation) \(call.object.escapedForMessage): \(message)",
                LogEvent(.hookCallFailed, outcome: outcome.rawValue))
            guard call.action.failureStopsLibvirt else { return (0, outcome) }
            // One line: libvirt shows the hook's stderr to whoever ran virsh.
            writeStandardError("libvirt-vxlan: \(message)\n")
            return (1, outcome)
        }
    }

    /// Refused: what libvirt or the operator gave us (XML, vxlan.conf) is not acceptable;
    /// failed: the host could not be read or changed.
    static func outcome(of error: any Error) -> HookOutcome {
        switch error {
        case let error as HookError:
            switch error {
            case .input, .refused: .refused
            case .lifecycle: .failed
            }
        case is ConfigFile.LoadError: .refused
        default: .failed
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

import Foundation
import Spawn

/// A child started with `spawn`, in a clean signal state and with no descriptor but its
/// standard streams: started through Foundation's Process, libvirtd and FRR's daemons
/// inherited the test runner's blocked signals and never saw the SIGTERM that should
/// stop them.
public final class ChildProcess {
    public let pid: pid_t
    private var exitStatus: Int32?

    /// Runs `arguments` through /usr/bin/env (PATH lookup, no shell) with the given
    /// standard descriptors (nil: /dev/null) and no other open file.
    public init(
        _ arguments: [String], environment: [String: String] = [:], stdin: Int32? = nil, stdout: Int32? = nil,
        stderr: Int32? = nil
    ) throws {
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        do {
            pid = try spawn(
                ["/usr/bin/env"] + arguments, environment: variables, stdin: stdin.map { .descriptor($0) } ?? .null,
                stdout: stdout.map { .descriptor($0) } ?? .null, stderr: stderr.map { .descriptor($0) } ?? .null)
        } catch {
            throw CommandFailed(
                command: arguments, result: CommandResult(status: -1, output: "", errors: "\(error)", killed: false))
        }
    }

    deinit { stop() }

    /// Waits for the child and returns its wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        let status = waitForExit(pid)
        exitStatus = status
        return status
    }

    /// Whether it is still running (a child that exited is reaped here).
    public var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return true }
        exitStatus = status
        return false
    }

    /// SIGTERM, SIGKILL after `grace` seconds, and reaped. Only this child, by its pid.
    public func stop(grace: Double = 5) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning, Date() < deadline { usleep(50_000) }
        if isRunning { kill(pid, SIGKILL) }
        wait()
    }
}

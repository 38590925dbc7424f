import Glibc
import HookRuntime
import Spawn

/// A fixed command run to its end, with no shell in between: its arguments are never
/// parsed by anything but the program itself. `spawn` rather than Foundation's Process,
/// which needs a loopback socket pair and hangs in a namespace whose lo is down.
enum ChildProcess {
    struct Result {
        var status: Int32
        /// stdout, with stderr too when `mergingErrors`.
        var output: String
    }

    /// nil if the command cannot be started (not installed).
    static func run(_ command: [String], input: String? = nil, mergingErrors: Bool = false) -> Result? {
        var outputEnds: [Int32] = [0, 0]
        var inputEnds: [Int32] = [0, 0]
        guard pipe(&outputEnds) == 0 else { return nil }
        guard input == nil || pipe(&inputEnds) == 0 else {
            outputEnds.forEach { close($0) }
            return nil
        }
        let pid = try? spawn(
            command, stdin: input == nil ? .null : .descriptor(inputEnds[0]), stdout: .descriptor(outputEnds[1]),
            stderr: mergingErrors ? .descriptor(outputEnds[1]) : .null, searchingPath: true)
        close(outputEnds[1])
        defer { close(outputEnds[0]) }
        if let input {
            close(inputEnds[0])
            // Rule sets and the like are a few KiB: far below a pipe's buffer.
            if pid != nil {
                input.utf8CString.withUnsafeBytes { _ = write(inputEnds[1], $0.baseAddress, $0.count - 1) }
            }
            close(inputEnds[1])
        }
        guard let pid else { return nil }
        let bytes = try? readAll(from: outputEnds[0], limit: 16 << 20)
        if bytes == nil { kill(pid, SIGKILL) }
        return Result(status: waitForExit(pid), output: String(decoding: bytes ?? [], as: UTF8.self))
    }
}

import FoundationEssentials
import Glibc
import HookRuntime

/// A fixed command run to its end, with no shell in between: its arguments are never
/// parsed by anything but the program itself. posix_spawn rather than Foundation's
/// Process, which needs a loopback socket pair and hangs in a namespace whose lo is down.
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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outputEnds[1], STDOUT_FILENO)
        if mergingErrors {
            posix_spawn_file_actions_adddup2(&actions, outputEnds[1], STDERR_FILENO)
        } else {
            posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
        }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, inputEnds[0], STDIN_FILENO)
            posix_spawn_file_actions_addclose(&actions, inputEnds[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addclose(&actions, outputEnds[0])
        var pid = pid_t()
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawnp(&pid, command[0], &actions, nil, argv, environ)
        close(outputEnds[1])
        defer { close(outputEnds[0]) }
        if let input {
            close(inputEnds[0])
            // Rule sets and the like are a few KiB: far below a pipe's buffer.
            if spawned == 0 {
                input.utf8CString.withUnsafeBytes { _ = write(inputEnds[1], $0.baseAddress, $0.count - 1) }
            }
            close(inputEnds[1])
        }
        guard spawned == 0 else { return nil }
        let bytes = try? readAll(from: outputEnds[0], limit: 16 << 20)
        if bytes == nil { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return Result(status: status, output: String(decoding: bytes ?? [], as: UTF8.self))
    }
}

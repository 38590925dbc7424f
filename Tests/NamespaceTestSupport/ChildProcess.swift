import Foundation

/// A child started with posix_spawn in a clean signal state: an empty signal mask and
/// every signal at its default action. The test runner's threads block most signals
/// and ignore SIGPIPE, and both are inherited across exec: started through Foundation's
/// Process, libvirtd and FRR's daemons never saw the SIGTERM that should stop them.
public final class ChildProcess {
    public let pid: pid_t
    private var exitStatus: Int32?

    /// Runs `arguments` through /usr/bin/env (PATH lookup, no shell) with the given
    /// standard descriptors (nil: /dev/null) and no other open file.
    public init(
        _ arguments: [String], environment: [String: String] = [:], stdin: Int32? = nil, stdout: Int32? = nil,
        stderr: Int32? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source, mode) in [
            (STDIN_FILENO, stdin, O_RDONLY), (STDOUT_FILENO, stdout, O_WRONLY), (STDERR_FILENO, stderr, O_WRONLY),
        ] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", mode, 0)
            }
        }
        // Nothing else: tests run in parallel, and a daemon holding another test's pipe
        // would keep that test's read from ending.
        _ = closeFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        var allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = pid_t()
        let code = posix_spawn(&child, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard code == 0 else {
            throw CommandFailed(
                command: arguments,
                result: CommandResult(status: -1, output: "", errors: String(cString: strerror(code)), killed: false))
        }
        pid = child
    }

    deinit { stop() }

    /// Waits for the child and returns its wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
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

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which the Glibc module does
/// not import.
private let closeFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        fatalError("glibc 2.34 or later is needed (posix_spawn_file_actions_addclosefrom_np)")
    }
    return unsafeBitCast(
        symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

import Glibc

/// Where a child's standard stream goes.
public enum StandardStream {
    /// /dev/null.
    case null
    /// One of our descriptors, duplicated onto the stream.
    case descriptor(Int32)
    /// A file the child opens (flags and mode as for open(2)).
    case file(String, flags: Int32, mode: mode_t = 0o600)
}

/// Why a program could not be started.
public struct SpawnError: Error, CustomStringConvertible {
    public var program: String
    public var errno: Int32

    public var description: String { "cannot start \(program): \(String(cString: strerror(errno)))" }
}

/// Starts `arguments` with posix_spawn, with no shell in between, and returns its pid.
///
/// The child starts clean: its standard streams as given, no other descriptor open (a
/// child holding another's pipe keeps that reader waiting), no signal blocked and every
/// signal at its default action (a test runner's threads block most signals and ignore
/// SIGPIPE, and both survive exec). `environment` holds `NAME=value` entries, nil for
/// ours; `searchingPath` looks the program up in PATH.
public func spawn(
    _ arguments: [String], environment: [String]? = nil, stdin: StandardStream = .null,
    stdout: StandardStream = .null, stderr: StandardStream = .null, searchingPath: Bool = false
) throws(SpawnError) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (stream, target, readable) in [
        (stdin, STDIN_FILENO, true), (stdout, STDOUT_FILENO, false), (stderr, STDERR_FILENO, false),
    ] {
        switch stream {
        case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", readable ? O_RDONLY : O_WRONLY, 0)
        case .descriptor(let source): posix_spawn_file_actions_adddup2(&actions, source, target)
        case .file(let path, let flags, let mode): posix_spawn_file_actions_addopen(&actions, target, path, flags, mode)
        }
    }
    _ = addCloseFrom(&actions, STDERR_FILENO + 1)

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

    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { $0.map { strdup($0) } + [nil] }
    defer { (argv + (envp ?? [])).forEach { free($0) } }
    var pid = pid_t()
    let start = searchingPath ? posix_spawnp : posix_spawn
    let code =
        if let envp { start(&pid, arguments[0], &actions, &attributes, argv, envp) } else {
            start(&pid, arguments[0], &actions, &attributes, argv, environ)
        }
    guard code == 0 else { throw SpawnError(program: arguments[0], errno: code) }
    return pid
}

/// Waits for `pid` to end, retrying EINTR; returns its wait status.
@discardableResult
public func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    return status
}

/// A wait status as a shell reports it: the exit code, or 128 + N for a process that
/// signal N ended (WIFSIGNALED, which Swift does not import).
public struct ExitStatus: Equatable, Sendable {
    public var code: Int32
    public var signalled: Bool

    public init(waitStatus status: Int32) {
        signalled = status & 0x7F != 0 && status & 0x7F != 0x7F
        code = signalled ? 128 + (status & 0x7F) : (status >> 8) & 0xFF
    }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which the Glibc module does
/// not import.
private let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        fatalError("glibc 2.34 or later is needed (posix_spawn_file_actions_addclosefrom_np)")
    }
    return unsafeBitCast(
        symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

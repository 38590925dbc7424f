import Foundation

/// An Open vSwitch of one test's own inside a network namespace: ovsdb-server and
/// ovs-vswitchd with a private run, database, log and configuration folder
/// (`OVS_RUNDIR` and friends), started with pid files and stopped by those pids when the
/// test ends, pass or fail, their folder removed. Bridges use the userspace datapath
/// (`netdev`): this kernel has no openvswitch module. The host's own Open vSwitch, if
/// any, is never touched (its socket is /var/run/openvswitch/db.sock; ours is not).
public final class PrivateOpenvSwitch {
    public let namespace: NetworkNamespace
    public let folder: TemporaryFolder
    public var runDirectory: String { folder.path + "/run" }
    /// ovsdb-server's socket, as `OVSDBSocket.path()` finds it with `environment`.
    public var socket: String { runDirectory + "/db.sock" }
    public var databasePidFile: String { runDirectory + "/ovsdb-server.pid" }
    public var switchPidFile: String { runDirectory + "/ovs-vswitchd.pid" }

    /// What Open vSwitch's tools (and the hook, through `OVS_RUNDIR`) need to find it.
    public var environment: [String: String] {
        [
            "OVS_RUNDIR": runDirectory, "OVS_DBDIR": folder.path + "/db", "OVS_LOGDIR": folder.path + "/log",
            "OVS_SYSCONFDIR": folder.path + "/etc",
        ]
    }

    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/ovs-vswitchd")
            && FileManager.default.fileExists(atPath: "/usr/share/openvswitch/vswitch.ovsschema")
    }

    /// Creates the database and starts both daemons in `namespace`.
    public init(in namespace: NetworkNamespace, startSwitch: Bool = true) throws {
        self.namespace = namespace
        folder = try TemporaryFolder()
        for sub in ["run", "db", "log", "etc"] {
            try FileManager.default.createDirectory(atPath: folder.path + "/" + sub, withIntermediateDirectories: true)
        }
        try run(["ovsdb-tool", "create", folder.path + "/db/conf.db", "/usr/share/openvswitch/vswitch.ovsschema"])
        try startDatabase()
        try vsctl("--no-wait", "init")
        if startSwitch { try self.startSwitch() }
    }

    deinit {
        stopSwitch()
        stopDatabase()
    }

    /// `ovsdb-server` on our socket, detached, with its pid file.
    public func startDatabase() throws {
        try exec([
            "ovsdb-server", folder.path + "/db/conf.db", "--remote=punix:" + socket, "--pidfile=" + databasePidFile,
            "--log-file=" + folder.path + "/log/ovsdb-server.log", "--detach", "--no-chdir",
        ])
    }

    /// `ovs-vswitchd` on our database, detached, with its pid file.
    public func startSwitch() throws {
        try exec([
            "ovs-vswitchd", "unix:" + socket, "--pidfile=" + switchPidFile,
            "--log-file=" + folder.path + "/log/ovs-vswitchd.log", "--detach", "--no-chdir",
        ])
    }

    public func stopDatabase() { Self.kill(pidFile: databasePidFile) }
    public func stopSwitch() { Self.kill(pidFile: switchPidFile) }

    /// Stops ovsdb-server without a word (SIGSTOP): its socket still accepts, nothing answers.
    public func freezeDatabase(_ frozen: Bool) {
        guard let pid = Self.pid(in: databasePidFile) else { return }
        Foundation.kill(pid, frozen ? SIGSTOP : SIGCONT)
    }

    /// `ovs-vsctl --db=unix:SOCKET --timeout=5 ARGS...` in the namespace.
    @discardableResult
    public func vsctl(_ arguments: String...) throws -> String {
        try vsctl(arguments)
    }

    @discardableResult
    public func vsctl(_ arguments: [String]) throws -> String {
        try exec(["ovs-vsctl", "--db=unix:" + socket, "--timeout=5"] + arguments)
    }

    /// What libvirt does for a NIC with `<virtualport type='openvswitch'/>` once the bridge
    /// exists: the guest's tap (here a veth end into `guest`) added with ovs-vsctl add-port.
    public func plugGuest(_ guest: NetworkNamespace, tap: String, address: String, bridge: String) throws {
        try guest.ip("link", "add", "eth0", "type", "veth", "peer", "name", tap, "netns", namespace.name)
        try guest.ip("addr", "add", address, "dev", "eth0")
        try guest.ip("link", "set", "eth0", "up")
        try namespace.ip("link", "set", tap, "up")
        try vsctl("--may-exist", "add-port", bridge, tap)
    }

    @discardableResult
    private func exec(_ arguments: [String]) throws -> String {
        let result = try namespace.exec(arguments, environment: environment)
        guard result.status == 0 else { throw CommandFailed(command: arguments, result: result) }
        return result.output
    }

    static func pid(in file: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// SIGTERM to the pid in `pidFile`, SIGKILL after 2 s; then the file goes.
    static func kill(pidFile: String) {
        guard let pid = pid(in: pidFile), pid > 1 else { return }
        Foundation.kill(pid, SIGCONT)
        Foundation.kill(pid, SIGTERM)
        for _ in 0..<200 where isAlive(pid) { usleep(10_000) }
        if isAlive(pid) { Foundation.kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidFile)
    }

    /// A detached daemon is not our child: once it exits it may stay a zombie until
    /// whoever adopted it reaps it, which counts as gone here.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard Foundation.kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[close...].hasPrefix(") Z")
    }
}

import FoundationEssentials
import Glibc
import HookRuntime
import Spawn
import VXLANCore

/// The probes behind `check`'s hooks, apparmor and daemon lines: each reads the host (or
/// runs the hook the way libvirt would) and hands what it saw to a `Preflight` verdict.
struct HookChecks {
    /// A phase every kind of hook ignores: the hook exits 0 before reading anything.
    private static let ignoredPhase = ["-", "started", "begin", "-"]

    func run() -> [PreflightResult] {
        let entries = Dictionary(uniqueKeysWithValues: HookCall.Driver.allCases.map { ($0, entryState($0)) })
        var results: [PreflightResult] = []
        var deniedBy: [HookCall.Driver: [String]] = [:]
        switch appArmor(entries) {
        case .off:
            results.append(Preflight.appArmor(nil))
        case .unreadable(let warning):
            results.append(warning)
        case .confining(let confinements):
            results.append(Preflight.appArmor(confinements))
            for confinement in confinements where confinement.enforces {
                for driver in confinement.deniedDrivers { deniedBy[driver, default: []].append(confinement.profile) }
            }
        }
        for driver in HookCall.Driver.allCases {
            results.append(Preflight.hookEntry(driver, entries[driver] ?? .missing, deniedBy: deniedBy[driver] ?? []))
        }
        return results + daemons()
    }

    /// Ours is a symlink to the hook that runs: anything else under that name belongs to
    /// another tool, and a hook that cannot start fails every guest start.
    private func entryState(_ driver: HookCall.Driver) -> HookEntryState {
        let entry = HookInstallation.entryPath(for: driver)
        var info = stat()
        guard lstat(entry, &info) == 0 else { return .missing }
        guard info.st_mode & S_IFMT == S_IFLNK else {
            return .foreign(info.st_mode & S_IFMT == S_IFDIR ? "a directory" : "a file, not a symlink to the hook")
        }
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: entry)) ?? ""
        guard target == HookInstallation.hookPath else { return .foreign("a symlink to \(target)") }
        // The entry answers an ignored phase by itself; the worker, run directly, shows
        // that it starts too (its shared libraries are there).
        for command in [[entry] + Self.ignoredPhase, Self.workerCommand(driver)] {
            guard let result = ChildProcess.run(command, mergingErrors: true) else {
                return .broken("\(command[0]) cannot be executed (missing or not executable)")
            }
            guard result.status == 0 else {
                return .broken(
                    "\(command[0]): exit status \(ExitStatus(waitStatus: result.status).code): \(result.output.firstLine)"
                )
            }
        }
        return .runs
    }

    /// The worker on an ignored phase, as the entry would execute it for an acted-on one.
    private static func workerCommand(_ driver: HookCall.Driver) -> [String] {
        [HookInstallation.workerPath, "--kind", driver.rawValue] + ignoredPhase
    }

    private enum AppArmorReading {
        case off
        case unreadable(PreflightResult)
        case confining([DaemonConfinement])
    }

    /// The libvirt daemons' loaded profiles, each enforcing one asked for real: a process
    /// switched to that profile (aa-exec) executes each hook entry, as libvirt's daemon
    /// would. A denial is exit status 126 (EACCES).
    private func appArmor(_ entries: [HookCall.Driver: HookEntryState]) -> AppArmorReading {
        let enabled = (try? String(contentsOfFile: "/sys/module/apparmor/parameters/enabled", encoding: .utf8)) ?? ""
        guard enabled.hasPrefix("Y") else { return .off }
        let list = "/sys/kernel/security/apparmor/profiles"
        guard let profiles = try? String(contentsOfFile: list, encoding: .utf8) else {
            return .unreadable(
                PreflightResult(
                    "apparmor", .warn, "AppArmor is enabled but \(list) cannot be read",
                    fix: "run as root; mount -t securityfs securityfs /sys/kernel/security"))
        }
        var confinements = DaemonConfinement.loaded(fromProfileList: profiles)
        for index in confinements.indices where confinements[index].enforces {
            for driver in confinements[index].daemon.drivers where entries[driver] == .runs {
                confinements[index].executions[driver] = execution(of: driver, under: confinements[index].profile)
            }
        }
        return .confining(confinements)
    }

    /// env runs under the profile and executes the entry, then the worker: those execs are
    /// the ones the profile mediates (by the symlink target's path), as when libvirtd runs
    /// the hook and the hook its worker.
    private func execution(of driver: HookCall.Driver, under profile: String) -> DaemonConfinement.Execution {
        let entry = [HookInstallation.entryPath(for: driver)] + Self.ignoredPhase
        for command in [entry, Self.workerCommand(driver)] {
            guard
                let result = ChildProcess.run(
                    ["aa-exec", "-p", profile, "--", "/usr/bin/env"] + command, mergingErrors: true)
            else {
                return .unknown("aa-exec is not installed")
            }
            switch ExitStatus(waitStatus: result.status).code {
            case 0: continue
            case 126: return .denied
            default: return .unknown("aa-exec -p \(profile): \(result.output.firstLine)")
            }
        }
        return .allowed
    }

    /// Each running daemon: did it start or reload after the newest hook entry appeared?
    private func daemons() -> [PreflightResult] {
        let installed = HookCall.Driver.allCases.compactMap { modificationTime(HookInstallation.entryPath(for: $0)) }
        guard let newest = installed.max() else { return [] }
        let running = HookInstallation.daemons.compactMap { daemon -> (String, pid_t)? in
            runningPID(daemon.name).map { (daemon.name, $0) }
        }
        guard !running.isEmpty else {
            return [
                PreflightResult(
                    "daemon", .pass,
                    "no libvirt daemon runs now: each finds the hooks when it starts (socket activation)")
            ]
        }
        return running.compactMap { name, pid in
            guard let started = startTime(of: pid) else { return nil }
            return Preflight.daemon(
                name, started: started, reloaded: SystemdUnit(name: "\(name).service").lastReload(ofMainPID: pid),
                hooksInstalled: newest)
        }
    }

    /// The pid in `/run/NAME.pid` if that process is still NAME (a pid file can be stale).
    private func runningPID(_ name: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: "/run/\(name).pid", encoding: .utf8),
            let pid = pid_t(text.withoutSurroundingWhitespace),
            let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
            command.withoutSurroundingWhitespace == name
        else { return nil }
        return pid
    }

    /// A process's start, in microseconds since the epoch: `/proc/PID/stat` field 22 counts
    /// clock ticks since boot; the boot's wall-clock time is now minus CLOCK_BOOTTIME.
    private func startTime(of pid: pid_t) -> Int64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name start with field 3 (state): starttime is the 20th.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Int64(fields[19]) else { return nil }
        var realtime = timespec()
        var boottime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        clock_gettime(CLOCK_BOOTTIME, &boottime)
        let bootedAt = realtime.microseconds - boottime.microseconds
        return bootedAt + ticks * 1_000_000 / Int64(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func modificationTime(_ path: String) -> Int64? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mtim.microseconds
    }
}

/// A systemd service, read over D-Bus with busctl (no systemd library linked).
struct SystemdUnit {
    var name: String

    /// When systemd last ran the unit's ExecReload (SIGHUP to libvirt's daemons), in
    /// microseconds since the epoch, if the unit's main process is `pid`. nil without
    /// systemd, for another process, or if it never reloaded.
    func lastReload(ofMainPID pid: pid_t) -> Int64? {
        guard FileManager.default.fileExists(atPath: "/run/systemd/system"),
            let mainPID = property("MainPID", as: UInt32.self), mainPID == pid,
            let reloads = property("ExecReload", as: [ExecCommandStatus].self)
        else { return nil }
        return reloads.map(\.startRealtime).filter { $0 > 0 }.max()
    }

    /// `busctl --json=short get-property`: `{"type":"u","data":1234}`.
    private func property<Value: Decodable>(_ property: String, as type: Value.Type) -> Value? {
        // D-Bus object paths escape every byte outside [A-Za-z0-9] as _XX.
        let escaped = name.utf8.map { byte -> String in
            let character = Character(Unicode.Scalar(byte))
            return character.isASCII && (character.isLetter || character.isNumber)
                ? String(character) : "_" + String(byte, radix: 16)
        }.joined()
        let command = [
            "busctl", "--json=short", "get-property", "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1/unit/\(escaped)", "org.freedesktop.systemd1.Service", property,
        ]
        guard let result = ChildProcess.run(command), result.status == 0 else { return nil }
        return try? JSONDecoder().decode(Reply<Value>.self, from: Data(result.output.utf8)).data
    }

    private struct Reply<Value: Decodable>: Decodable {
        var data: Value
    }

    /// One `(sasbttttuii)`: path, argv, ignore failure, start (realtime, monotonic), exit
    /// (realtime, monotonic), pid, code, status.
    private struct ExecCommandStatus: Decodable {
        var startRealtime: Int64

        init(from decoder: any Decoder) throws {
            var fields = try decoder.unkeyedContainer()
            _ = try fields.decode(String.self)
            _ = try fields.decode([String].self)
            _ = try fields.decode(Bool.self)
            startRealtime = try fields.decode(Int64.self)
        }
    }
}

extension timespec {
    fileprivate var microseconds: Int64 { Int64(tv_sec) * 1_000_000 + Int64(tv_nsec) / 1000 }
}

extension String {
    /// What a one-value file (/proc, a pid file) holds, without its newline.
    var withoutSurroundingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    fileprivate var firstLine: String {
        String(split(separator: "\n", omittingEmptySubsequences: true).first ?? "no output")
    }
}

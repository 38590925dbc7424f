/// Where the package puts the hook, which libvirt daemons run it, and the verdicts of
/// `vxlanctl check` on whether they can: pure logic over what the probes read.
public enum HookInstallation {
    /// The executable every hook entry links to: a small C program that answers the
    /// phases the hook ignores and executes `workerPath` for the others.
    public static let hookPath = "/usr/libexec/libvirt-vxlan/libvirt-vxlan-hook"
    /// The hook proper (Swift, libxml2, libnl).
    public static let workerPath = "/usr/libexec/libvirt-vxlan/libvirt-vxlan-hook-worker"

    /// `hooks/qemu.d/50-libvirt-vxlan` or `hooks/network.d/50-libvirt-vxlan` (libvirt >= 6.5).
    public static func entryPath(for driver: HookCall.Driver) -> String {
        "/etc/libvirt/hooks/\(driver.folder)/50-libvirt-vxlan"
    }

    /// A libvirt daemon that runs hooks: the monolithic libvirtd runs both kinds, the
    /// modular virtqemud and virtnetworkd one each.
    public struct Daemon: Hashable, Sendable {
        public var name: String
        public var drivers: [HookCall.Driver]

        /// The daemon's AppArmor profile file and the site-local file it includes.
        public var profileFile: String { "/etc/apparmor.d/usr.sbin.\(name)" }
        public var localRulesFile: String { "/etc/apparmor.d/local/usr.sbin.\(name)" }
    }

    public static let daemons = [
        Daemon(name: "libvirtd", drivers: [.qemu, .network]),
        Daemon(name: "virtqemud", drivers: [.qemu]),
        Daemon(name: "virtnetworkd", drivers: [.network]),
    ]

    /// The line the package adds to a daemon's local AppArmor rules: the daemon may run
    /// the hook and its worker under its own profile (`ix`), which already allows what
    /// the hook does.
    public static let appArmorRule = "\(hookPath){,-worker} rmix,"
}

/// What AppArmor says about one libvirt daemon: its loaded profile's mode and whether that
/// profile let a process execute each hook entry (a real exec under the profile).
public struct DaemonConfinement: Hashable, Sendable {
    public enum Execution: Hashable, Sendable {
        case allowed
        /// The exec failed with EACCES under the profile.
        case denied
        /// The probe itself could not run; the text says why.
        case unknown(String)
    }

    public var daemon: HookInstallation.Daemon
    /// The profile's name as loaded (`libvirtd`, or `/usr/sbin/libvirtd` in older policy).
    public var profile: String
    /// `enforce`, `complain`, `kill`, `unconfined`, as AppArmor lists it.
    public var mode: String
    public var executions: [HookCall.Driver: Execution]

    public init(
        daemon: HookInstallation.Daemon, profile: String, mode: String,
        executions: [HookCall.Driver: Execution] = [:]
    ) {
        self.daemon = daemon
        self.profile = profile
        self.mode = mode
        self.executions = executions
    }

    /// Only an enforcing profile refuses what it does not allow; complain mode logs it.
    public var enforces: Bool { mode == "enforce" || mode == "kill" }

    public var deniedDrivers: [HookCall.Driver] {
        daemon.drivers.filter { executions[$0] == .denied }
    }
}

extension DaemonConfinement {
    /// The libvirt daemons' profiles among AppArmor's loaded ones
    /// (`/sys/kernel/security/apparmor/profiles`: one `NAME (MODE)` per line; child
    /// profiles such as `libvirtd//qemu_bridge_helper` are not daemons).
    public static func loaded(fromProfileList text: String) -> [DaemonConfinement] {
        var found: [DaemonConfinement] = []
        for line in text.split(separator: "\n") {
            guard line.hasSuffix(")"), let open = line.lastIndex(of: "(") else { continue }
            let name = String(line[..<open].dropLast(line[..<open].hasSuffix(" ") ? 1 : 0))
            let mode = String(line[line.index(after: open)..<line.index(before: line.endIndex)])
            let daemonName = name.hasPrefix("/usr/sbin/") ? String(name.dropFirst("/usr/sbin/".count)) : name
            guard let daemon = HookInstallation.daemons.first(where: { $0.name == daemonName }) else { continue }
            found.append(DaemonConfinement(daemon: daemon, profile: name, mode: mode))
        }
        return found
    }
}

extension Preflight {
    /// The `apparmor` line: can every confined libvirt daemon execute the hook?
    /// `confinements` is nil where AppArmor is off.
    public static func appArmor(_ confinements: [DaemonConfinement]?) -> PreflightResult {
        guard let confinements else { return PreflightResult("apparmor", .pass, "not in use") }
        guard !confinements.isEmpty else {
            return PreflightResult(
                "apparmor", .pass, "enabled; no libvirt daemon profile is loaded (they run unconfined)")
        }
        var summaries: [String] = []
        for confinement in confinements {
            let label = "\(confinement.profile) (\(confinement.mode))"
            guard confinement.enforces else {
                summaries.append("\(label) lets the hook run, logging what it would deny")
                continue
            }
            let denied = confinement.deniedDrivers
            if !denied.isEmpty {
                let daemon = confinement.daemon
                return PreflightResult(
                    "apparmor", .fail,
                    "\(label) denies executing \(HookInstallation.hookPath) "
                        + "(\(denied.map { "\($0) hooks" }.joined(separator: ", "))): "
                        + "libvirt fails every start that runs the hook",
                    fix: "apt-get install --reinstall libvirt-vxlan, or add '\(HookInstallation.appArmorRule)' to "
                        + "\(daemon.localRulesFile) and run apparmor_parser -r \(daemon.profileFile)")
            }
            for driver in confinement.daemon.drivers {
                if case .unknown(let why) = confinement.executions[driver] {
                    return PreflightResult(
                        "apparmor", .warn,
                        "\(label) enforces, and whether it lets the hook run could not be tested: \(why)",
                        fix: "apt-get install apparmor (vxlanctl check runs the hook under the profile with aa-exec)")
                }
            }
            let tested = confinement.daemon.drivers.filter { confinement.executions[$0] == .allowed }
            summaries.append(
                tested.isEmpty
                    ? "\(label): no hook entry to test (see the hooks line)"
                    : "\(label) executes the hook (\(tested.map { "\($0)" }.joined(separator: ", ")))")
        }
        return PreflightResult("apparmor", .pass, summaries.joined(separator: "; "))
    }
}

/// What is found at one hook entry, `hooks/DRIVER.d/50-libvirt-vxlan`.
public enum HookEntryState: Hashable, Sendable {
    case missing
    /// A file or link of another tool (not a symlink to our hook): what it is.
    case foreign(String)
    /// Our symlink, but the hook cannot be run as root outside any profile: why.
    case broken(String)
    /// Run with a phase it ignores, it exits 0.
    case runs
}

extension Preflight {
    /// The `hooks` line of one entry: installed, ours, runnable, and not denied to the
    /// daemons that run it (`deniedBy`: the enforcing AppArmor profiles that refuse it).
    public static func hookEntry(_ driver: HookCall.Driver, _ state: HookEntryState, deniedBy: [String])
        -> PreflightResult
    {
        let entry = HookInstallation.entryPath(for: driver)
        let reinstall = "apt-get install --reinstall libvirt-vxlan"
        switch state {
        case .missing:
            return PreflightResult("hooks", .fail, "\(entry) is missing: libvirt runs no VXLAN hook", fix: reinstall)
        case .foreign(let what):
            return PreflightResult(
                "hooks", .fail, "\(entry) is not libvirt-vxlan's: \(what)",
                fix: "move it out of \(entry), then \(reinstall) (the package never replaces another tool's file)")
        case .broken(let why):
            return PreflightResult(
                "hooks", .fail, "\(entry) -> \(HookInstallation.hookPath) cannot run: \(why)", fix: reinstall)
        case .runs where !deniedBy.isEmpty:
            return PreflightResult(
                "hooks", .fail,
                "\(entry) runs as root, but \(deniedBy.joined(separator: " and ")) may not execute it (AppArmor)",
                fix: "see the apparmor line")
        case .runs:
            return PreflightResult("hooks", .pass, "\(entry) -> \(HookInstallation.hookPath) runs")
        }
    }

    /// The `daemon` line: libvirt finds hooks when a daemon starts and when it reloads
    /// (SIGHUP), so a daemon sees entries installed before the later of the two. Times in
    /// microseconds since the epoch; `reloaded` is nil when nothing records a reload.
    public static func daemon(_ name: String, started: Int64, reloaded: Int64?, hooksInstalled: Int64)
        -> PreflightResult
    {
        if started >= hooksInstalled {
            return PreflightResult("daemon", .pass, "\(name) started after the hooks were installed")
        }
        if let reloaded, reloaded >= hooksInstalled {
            return PreflightResult("daemon", .pass, "\(name) reloaded after the hooks were installed")
        }
        return PreflightResult(
            "daemon", .warn,
            "\(name) started before the hooks were installed and has not reloaded: it does not run them",
            fix: "systemctl reload \(name)")
    }
}

import Testing
import VXLANCore

struct AppArmorVerdictTests {
    /// What Debian 12 lists with libvirt-daemon-system installed, plus the names other
    /// policies use: child profiles and foreign daemons are not libvirt daemons.
    static let profileList = """
        libvirtd (enforce)
        libvirtd//qemu_bridge_helper (enforce)
        virt-aa-helper (enforce)
        /usr/sbin/virtqemud (complain)
        man_filter (enforce)
        """

    static let libvirtd = HookInstallation.daemons[0]

    @Test func loadedProfilesAreTheLibvirtDaemonsWithTheirModes() {
        let loaded = DaemonConfinement.loaded(fromProfileList: Self.profileList)
        #expect(loaded.map(\.profile) == ["libvirtd", "/usr/sbin/virtqemud"])
        #expect(loaded.map(\.daemon.name) == ["libvirtd", "virtqemud"])
        #expect(loaded.map(\.enforces) == [true, false])
    }

    @Test func appArmorOffIsNotInUse() {
        let verdict = Preflight.appArmor(nil)
        #expect(verdict.level == .pass)
        #expect(verdict.message == "not in use")
    }

    @Test func anEnforcingProfileThatDeniesTheHookFailsWithTheRuleToAdd() {
        let confinement = DaemonConfinement(
            daemon: Self.libvirtd, profile: "libvirtd", mode: "enforce",
            executions: [.qemu: .denied, .network: .denied])
        let verdict = Preflight.appArmor([confinement])
        #expect(verdict.level == .fail)
        #expect(verdict.message.contains("libvirtd (enforce) denies executing \(HookInstallation.hookPath)"))
        #expect(verdict.fix?.contains("'\(HookInstallation.hookPath){,-worker} rmix,'") == true)
        #expect(verdict.fix?.contains("/etc/apparmor.d/local/usr.sbin.libvirtd") == true)
        #expect(verdict.fix?.contains("apparmor_parser -r /etc/apparmor.d/usr.sbin.libvirtd") == true)
    }

    @Test func anEnforcingProfileThatAllowsTheHookPasses() {
        let confinement = DaemonConfinement(
            daemon: Self.libvirtd, profile: "libvirtd", mode: "enforce",
            executions: [.qemu: .allowed, .network: .allowed])
        let verdict = Preflight.appArmor([confinement])
        #expect(verdict.level == .pass)
        #expect(verdict.message == "libvirtd (enforce) executes the hook (qemu, network)")
    }

    @Test func aComplainModeProfileLetsTheHookRun() {
        let confinement = DaemonConfinement(
            daemon: Self.libvirtd, profile: "libvirtd", mode: "complain", executions: [.qemu: .denied])
        #expect(Preflight.appArmor([confinement]).level == .pass)
    }

    @Test func anUntestableEnforcingProfileWarnsWithAFix() {
        let confinement = DaemonConfinement(
            daemon: Self.libvirtd, profile: "libvirtd", mode: "enforce",
            executions: [.qemu: .unknown("aa-exec is not installed")])
        let verdict = Preflight.appArmor([confinement])
        #expect(verdict.level == .warn)
        #expect(verdict.message.hasSuffix("aa-exec is not installed"))
        #expect(verdict.fix != nil)
    }

    @Test func noLoadedDaemonProfileMeansUnconfinedDaemons() {
        #expect(Preflight.appArmor([]).level == .pass)
    }
}

struct HookEntryVerdictTests {
    @Test(
        arguments: [
            (HookEntryState.missing, [String](), PreflightResult.Level.fail),
            (.foreign("a file, not a symlink to the hook"), [], .fail),
            (.broken("exit status 127"), [], .fail),
            (.runs, ["libvirtd"], .fail),
            (.runs, [], .pass),
        ] as [(HookEntryState, [String], PreflightResult.Level)])
    func hookEntryVerdict(state: HookEntryState, deniedBy: [String], level: PreflightResult.Level) {
        let verdict = Preflight.hookEntry(.qemu, state, deniedBy: deniedBy)
        #expect(verdict.level == level)
        #expect(verdict.message.hasPrefix("/etc/libvirt/hooks/qemu.d/50-libvirt-vxlan"))
        #expect(level == .pass || verdict.fix != nil)
    }

    @Test func aHookThatAppArmorDeniesDoesNotPassAlthoughItRunsAsRoot() {
        let verdict = Preflight.hookEntry(.network, .runs, deniedBy: ["libvirtd"])
        #expect(verdict.message.contains("libvirtd may not execute it (AppArmor)"))
    }
}

struct DaemonVerdictTests {
    static let installed: Int64 = 1_764_468_000_000_000

    @Test func aDaemonStartedAfterTheHooksRunsThem() {
        #expect(
            Preflight.daemon("libvirtd", started: Self.installed + 1, reloaded: nil, hooksInstalled: Self.installed)
                .level == .pass)
    }

    @Test func aDaemonReloadedAfterTheHooksRunsThem() {
        let verdict = Preflight.daemon(
            "libvirtd", started: Self.installed - 60_000_000, reloaded: Self.installed + 5_000,
            hooksInstalled: Self.installed)
        #expect(verdict.level == .pass)
        #expect(verdict.message == "libvirtd reloaded after the hooks were installed")
    }

    @Test(arguments: [nil, installed - 1] as [Int64?])
    func aDaemonNeitherStartedNorReloadedSinceWarnsWithTheReload(reloaded: Int64?) {
        let verdict = Preflight.daemon(
            "virtqemud", started: Self.installed - 60_000_000, reloaded: reloaded, hooksInstalled: Self.installed)
        #expect(verdict.level == .warn)
        #expect(verdict.fix == "systemctl reload virtqemud")
    }
}

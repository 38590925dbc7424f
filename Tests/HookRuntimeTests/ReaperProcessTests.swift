import Foundation
import NamespaceTestSupport
import Spawn
import Testing

/// The reaper that a release's hook call starts (`ReaperMain`): a program of its own,
/// detached from libvirt, alone on the reaper lock.
@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct ReaperProcessTests {
    /// A release whose stdout and stderr are pipes, as libvirt's are: both reach EOF when
    /// the hook exits, while its reaper still runs (held back by a marked VNI whose lock
    /// the test holds). The reaper sits in a session of its own with /dev/null as stdio
    /// and the reaper lock as descriptor 3; a second release finds the lock held and
    /// starts no second reaper; once let go, it deletes both segments and exits.
    @Test func testTheReaperOutlivesTheHookWithoutItsPipesAndAlone() throws {
        let host = try HookHost("reaper")
        let first = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        let third = domainXML("g3", uuid: uuid(3), bridges: ["brvx-5003"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: first).status == 0)
        #expect(try host.hook("qemu", "g3", "prepare", "begin", input: third).status == 0)
        // The reaper takes the locks of the marked VNIs in ascending order: 5001, then
        // 5002's, which the test holds until it has looked.
        try FileManager.default.createDirectory(atPath: host.state + "/pending", withIntermediateDirectories: true)
        try "brvx-5002 vxlan5002\n".write(toFile: host.state + "/pending/5002", atomically: true, encoding: .utf8)
        let blocker = try host.holdLock("5002")

        let release = try host.hookWithPipes("g1", "release", "end", input: first)
        #expect(release.status == 0)
        #expect(release.seconds < 5, "the hook's pipes stayed open \(release.seconds) s after it exited")
        #expect(host.pending.contains("5001"), "the reaper was not held back")
        let reapers = host.reapers()
        try #require(reapers.count == 1, "reapers: \(reapers)")
        let reaper = reapers[0]
        #expect(sessionID(of: reaper) == reaper, "the reaper is not in a session of its own")
        #expect(
            eventually(seconds: 5) {
                (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(reaper)/cmdline")))
                    == Data("vxlan-reaper\0--reap\0".utf8)
            })
        // Named by the reaper itself once it runs.
        #expect(
            eventually(seconds: 5) {
                (try? String(contentsOfFile: "/proc/\(reaper)/comm", encoding: .utf8)) == "vxlan-reaper\n"
            })
        let descriptors = openDescriptors(of: reaper)
        #expect((0...2).allSatisfy { descriptors[$0] == "/dev/null" }, "\(descriptors)")
        #expect(descriptors[3] == host.state + "/locks/reaper", "\(descriptors)")
        #expect(!descriptors.values.contains { $0.hasPrefix("pipe:") }, "\(descriptors)")
        #expect(host.lockIsHeld("reaper"))

        #expect(try host.hook("qemu", "g3", "release", "end", input: third).status == 0)
        #expect(host.reapers() == [reaper], "a second wake started a second reaper")

        close(blocker)
        host.settle()
        #expect(host.pending.isEmpty)
        #expect(try [5001, 5003].allSatisfy { try !host.exists("brvx-\($0)") && !host.exists("vxlan\($0)") })
        #expect(eventually(seconds: 10) { host.reapers().isEmpty }, "the reaper did not exit")
    }

    /// While the reaper lock is held, a release starts no reaper; `--reap` run by hand,
    /// without the held lock on descriptor 3, says so and reaps nothing; the mark waits
    /// for the next wake (here vxlanctl gc's).
    @Test func testNoReaperStartsWhileTheLockIsHeldNorByHand() throws {
        let host = try HookHost("reaper-by-hand")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        let blocker = try host.holdLock("reaper")
        #expect(try host.hook("qemu", "g1", "release", "end", input: xml).status == 0)
        #expect(host.reapers().isEmpty)
        let byHand = try host.namespace.exec(
            [builtProduct("libvirt-vxlan-hook"), "--reap"], environment: ["LIBVIRT_VXLAN_STATE_DIR": host.state])
        #expect(byHand.status == 64)
        #expect(byHand.errors.contains("expects the held lock"), "\(byHand.errors)")
        #expect(try host.pending == ["5001"] && host.exists("brvx-5001"))
        close(blocker)
        #expect(try host.collectGarbage().status == 0)
        #expect(host.pending.isEmpty)
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"))
    }

    /// A worker deleted while its call runs (as a package upgrade replaces it) cannot
    /// start itself as the reaper (readlink names "… (deleted)"): the release then reaps
    /// inline, and the segment is gone when it returns.
    @Test func testAReleaseWhoseWorkerWasReplacedReapsInline() throws {
        let host = try HookHost("reaper-upgrade")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        #expect(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        let worker = host.folder.path + "/libvirt-vxlan-hook"
        try FileManager.default.copyItem(atPath: builtProduct("libvirt-vxlan-hook"), toPath: worker)
        let input = open(try host.folder.write("g1.xml", xml), O_RDONLY | O_CLOEXEC)
        defer { close(input) }
        // The release waits for the VNI's lock: the worker is deleted before it wakes a reaper.
        let blocker = try host.holdLock("5001")
        let release = try ChildProcess(
            ["ip", "netns", "exec", host.namespace.name, worker, "--kind", "qemu", "g1", "release", "end", "-"],
            environment: ["LIBVIRT_VXLAN_CONFIG": host.config, "LIBVIRT_VXLAN_STATE_DIR": host.state], stdin: input)
        try #require(
            eventually(seconds: 10) {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(release.pid)/exe")) == worker
            })
        try FileManager.default.removeItem(atPath: worker)
        close(blocker)
        #expect(Spawn.ExitStatus(waitStatus: release.wait()) == Spawn.ExitStatus(waitStatus: 0))
        #expect(host.pending.isEmpty && host.reapers().isEmpty)
        #expect(try !host.exists("brvx-5001") && !host.exists("vxlan5001"))
    }
}

extension HookHost {
    /// The hook as libvirt runs it, with its stdout and stderr on pipes: its status, and
    /// how long both pipes stayed open after it exited (EOF comes once no process holds
    /// them). Gives up after 10 s.
    func hookWithPipes(_ object: String, _ operation: String, _ sub: String, input: String) throws
        -> (status: Int32, seconds: Double)
    {
        let xml = try folder.write("input-\(UUID().uuidString).xml", input)
        let stdin = open(xml, O_RDONLY | O_CLOEXEC)
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        guard stdin >= 0, pipe(&output) == 0, pipe(&errors) == 0 else { throw POSIXError(.EIO) }
        for descriptor in output + errors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        defer { for descriptor in [stdin, output[0], errors[0]] { close(descriptor) } }
        let child = try ChildProcess(
            [
                "ip", "netns", "exec", namespace.name, builtProduct("libvirt-vxlan-hook"), "--kind", "qemu", object,
                operation, sub, "-",
            ],
            environment: ["LIBVIRT_VXLAN_CONFIG": config, "LIBVIRT_VXLAN_STATE_DIR": state], stdin: stdin,
            stdout: output[1], stderr: errors[1])
        close(output[1])
        close(errors[1])
        let status = Spawn.ExitStatus(waitStatus: child.wait())
        let exited = Date()
        var open = [output[0], errors[0]]
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !open.isEmpty, Date().timeIntervalSince(exited) < 10 {
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&descriptors, nfds_t(descriptors.count), 100) > 0 else { continue }
            for entry in descriptors where entry.revents != 0 {
                if read(entry.fd, &buffer, buffer.count) <= 0 { open.removeAll { $0 == entry.fd } }
            }
        }
        return (status.signalled ? -1 : status.code, Date().timeIntervalSince(exited))
    }

    /// Takes `state/locks/NAME` (flock), as a hook call would; close the descriptor to
    /// let go.
    func holdLock(_ name: String) throws -> Int32 {
        try FileManager.default.createDirectory(atPath: state + "/locks", withIntermediateDirectories: true)
        let descriptor = open(state + "/locks/" + name, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0, flock(descriptor, LOCK_EX) == 0 else { throw POSIXError(.EIO) }
        return descriptor
    }

    func lockIsHeld(_ name: String) -> Bool {
        let descriptor = open(state + "/locks/" + name, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// The processes that hold this host's reaper lock as descriptor 3, this one aside:
    /// its reapers, from the moment posix_spawn has set their descriptors up (their
    /// command line and environment appear only once exec is done, after the hook that
    /// started them may have exited).
    func reapers() -> [pid_t] {
        let lock = state + "/locks/reaper"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            pid != getpid()
                && (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/3")) == lock
        }.sorted()
    }
}

/// The session of `pid` (field 6 of /proc/PID/stat, after the command in parentheses).
func sessionID(of pid: pid_t) -> pid_t? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    return fields.count > 3 ? pid_t(fields[3]) : nil
}

/// What each open descriptor of `pid` refers to (/proc/PID/fd).
func openDescriptors(of pid: pid_t) -> [Int32: String] {
    let folder = "/proc/\(pid)/fd"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    var targets: [Int32: String] = [:]
    for entry in entries {
        guard let descriptor = Int32(entry),
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(entry)")
        else { continue }
        targets[descriptor] = target
    }
    return targets
}

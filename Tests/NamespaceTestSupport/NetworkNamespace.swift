import Foundation
import HostNetwork
import Spawn

/// A network namespace made for one test and deleted when the test ends, pass or fail,
/// so no test ever touches the host's own namespace.
public final class NetworkNamespace {
    public let name: String
    public var path: String { "/run/netns/\(name)" }
    /// The state folder of the programs `exec` runs here (`LIBVIRT_VXLAN_STATE_DIR`, unless
    /// the caller sets it), so that none of them writes the host's /run/libvirt-vxlan, which
    /// is an installed hook's; removed with the namespace.
    public let state: TemporaryFolder

    public init(_ label: String) throws {
        name = "lvxt-\(label)-\(UInt32.random(in: 0...UInt32.max))"
        state = try TemporaryFolder()
        try run("ip", "netns", "add", name)
        try ip("link", "set", "lo", "up")
    }

    deinit {
        // Delete by name: only the namespace this object made.
        _ = try? run("ip", "netns", "del", name)
    }

    /// `ip -n NS ARGS...`
    @discardableResult
    public func ip(_ arguments: String...) throws -> String {
        try ip(arguments)
    }

    @discardableResult
    public func ip(_ arguments: [String]) throws -> String {
        try run(["ip", "-n", name] + arguments)
    }

    /// `ip netns exec NS COMMAND...`, with all it said; the state folder is `state` unless
    /// `environment` names another.
    public func exec(_ arguments: [String], environment: [String: String] = [:], input: [UInt8]? = nil) throws
        -> CommandResult
    {
        try capture(
            ["ip", "netns", "exec", name] + arguments,
            environment: ["LIBVIRT_VXLAN_STATE_DIR": state.path].merging(environment) { $1 }, input: input)
    }

    public func session() throws -> NetlinkSession {
        try NetlinkSession(namespacePath: path)
    }

    /// `ip -d -j link show dev NAME`, or nil when the link does not exist.
    public func link(_ device: String) throws -> [String: Any]? {
        let result = try capture(["ip", "-n", name, "-d", "-j", "link", "show", "dev", device])
        guard result.status == 0, let data = result.output.data(using: .utf8),
            let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return nil }
        return list.first
    }

    /// Names of every link in the namespace, for "nothing changed" checks.
    public func linkNames() throws -> [String] {
        let data = Data(try ip("-j", "link", "show").utf8)
        let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return list.compactMap { $0["ifname"] as? String }.sorted()
    }

    /// A veth pair standing in for the underlay NIC (dummy devices are not available
    /// here), with `address` on `device` and both ends up.
    public func addUnderlay(_ device: String = "ul0", address: String = "192.0.2.1/24", mtu: Int = 1500) throws {
        try ip(
            "link", "add", device, "mtu", String(mtu), "type", "veth", "peer", "name", device + "p", "mtu", String(mtu))
        try ip("addr", "add", address, "dev", device)
        try ip("link", "set", device, "up")
        try ip("link", "set", device + "p", "up")
    }
}

extension NetworkNamespace {
    /// Two hosts joined by a veth pair, `ul0` in each, 192.0.2.1/24 in `a` and
    /// 192.0.2.2/24 in `b`, both up: the underlay of a two-host overlay.
    public static func joinUnderlay(_ a: NetworkNamespace, _ b: NetworkNamespace) throws {
        try a.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name)
        for (host, address) in [(a, "192.0.2.1/24"), (b, "192.0.2.2/24")] {
            try host.ip("addr", "add", address, "dev", "ul0")
            try host.ip("link", "set", "ul0", "up")
        }
    }

    /// A namespace standing in for a guest: `eth0` with `address`, its peer `tap` in
    /// `host` as a port of `bridge` (what libvirt does with a vnet tap).
    public func plugGuest(into host: NetworkNamespace, tap: String, bridge: String, address: String) throws {
        try ip("link", "add", "eth0", "type", "veth", "peer", "name", tap, "netns", host.name)
        try ip("addr", "add", address, "dev", "eth0")
        try ip("link", "set", "eth0", "up")
        try host.ip("link", "set", tap, "master", bridge, "up")
    }

    /// Pings until one answer comes back (the first frames may race the group join and
    /// learning), or gives up after `attempts` one-second tries.
    public func pings(_ address: String, attempts: Int = 10) throws -> Bool {
        for _ in 0..<attempts where try exec(["ping", "-c", "1", "-W", "1", address]).status == 0 {
            return true
        }
        return false
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var command: [String]
    public var result: CommandResult
    public var description: String {
        "\(command.joined(separator: " ")) exited \(result.status): \(result.output)\(result.errors)"
    }
}

public struct CommandResult: Sendable {
    public var status: Int32
    public var output: String
    public var errors: String
    /// Killed by a signal (SIGKILL from a crash point) rather than exiting.
    public var killed: Bool
}

@discardableResult
public func run(_ arguments: String...) throws -> String {
    try run(arguments)
}

/// Runs a command (no shell) and returns its standard output; throws when it fails.
@discardableResult
public func run(_ arguments: [String]) throws -> String {
    let result = try capture(arguments)
    guard result.status == 0 else { throw CommandFailed(command: arguments, result: result) }
    return result.output
}

/// Runs a command (no shell) with extra environment and optional standard input, and
/// returns all it said.
public func capture(_ arguments: [String], environment: [String: String] = [:], input: [UInt8]? = nil) throws
    -> CommandResult
{
    let output = Pipe()
    let errors = Pipe()
    let feed = Pipe()
    let child = try ChildProcess(
        arguments, environment: environment, stdin: input == nil ? nil : feed.fileHandleForReading.fileDescriptor,
        stdout: output.fileHandleForWriting.fileDescriptor, stderr: errors.fileHandleForWriting.fileDescriptor)
    // Our copies of the child's ends: the reads below end when the child's close.
    try output.fileHandleForWriting.close()
    try errors.fileHandleForWriting.close()
    try feed.fileHandleForReading.close()
    if let input {
        // A phase that ignores stdin exits without reading it: a broken pipe is fine.
        signal(SIGPIPE, SIG_IGN)
        try? feed.fileHandleForWriting.write(contentsOf: Data(input))
    }
    try? feed.fileHandleForWriting.close()
    // Drain standard error on another thread, so a chatty child cannot fill one pipe
    // while we wait on the other.
    let err = ErrorDrain(errors.fileHandleForReading)
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let status = ExitStatus(waitStatus: child.wait())
    return CommandResult(
        status: status.code, output: String(decoding: out, as: UTF8.self),
        errors: String(decoding: err.wait(), as: UTF8.self), killed: status.signalled)
}

/// Reads a pipe to its end on a background thread.
private final class ErrorDrain: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        DispatchQueue.global().async {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// These tests create namespaces and devices: they need root, which CI has.
public let isRoot = getuid() == 0

/// A product built next to the test bundle (`vxlanctl`, `libvirt-vxlan-hook`).
public func builtProduct(_ name: String) -> String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
}

/// A temporary folder, removed when the test ends.
public final class TemporaryFolder {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "lvxt-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

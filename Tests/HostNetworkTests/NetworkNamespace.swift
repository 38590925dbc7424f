import Foundation
import HostNetwork
import Testing

/// A network namespace made for one test and deleted when the test ends, pass or fail,
/// so no test ever touches the host's own namespace.
final class NetworkNamespace {
    let name: String
    var path: String { "/run/netns/\(name)" }

    init(_ label: String) throws {
        name = "lvxt-\(label)-\(UInt32.random(in: 0...UInt32.max))"
        try run("ip", "netns", "add", name)
        try ip("link", "set", "lo", "up")
    }

    deinit {
        // Delete by name: only the namespace this object made.
        _ = try? run("ip", "netns", "del", name)
    }

    /// `ip -n NS ARGS...`
    @discardableResult
    func ip(_ arguments: String...) throws -> String {
        try run(["ip", "-n", name] + arguments)
    }

    /// `ip netns exec NS COMMAND...`
    /// `ip netns exec NS COMMAND...`, with all it said.
    func exec(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try capture(["ip", "netns", "exec", name] + arguments, environment: environment)
    }

    func session() throws -> NetlinkSession {
        try NetlinkSession(namespacePath: path)
    }

    /// `ip -d -j link show dev NAME`, or nil when the link does not exist.
    func link(_ device: String) throws -> [String: Any]? {
        let result = try capture(["ip", "-n", name, "-d", "-j", "link", "show", "dev", device])
        guard result.status == 0, let data = result.output.data(using: .utf8),
            let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return nil }
        return list.first
    }

    /// Names of every link in the namespace, for "nothing changed" checks.
    func linkNames() throws -> [String] {
        let data = Data(try ip("-j", "link", "show").utf8)
        let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return list.compactMap { $0["ifname"] as? String }.sorted()
    }

    /// A veth pair standing in for the underlay NIC (dummy devices are not available
    /// here), with `address` on `device` and both ends up.
    func addUnderlay(_ device: String = "ul0", address: String = "192.0.2.1/24", mtu: Int = 1500) throws {
        try ip("link", "add", device, "mtu", String(mtu), "type", "veth", "peer", "name", device + "p", "mtu", String(mtu))
        try ip("addr", "add", address, "dev", device)
        try ip("link", "set", device, "up")
        try ip("link", "set", device + "p", "up")
    }
}

struct CommandFailed: Error, CustomStringConvertible {
    var command: [String]
    var result: CommandResult
    var description: String {
        "\(command.joined(separator: " ")) exited \(result.status): \(result.output)\(result.errors)"
    }
}

struct CommandResult {
    var status: Int32
    var output: String
    var errors: String
}

@discardableResult
func run(_ arguments: String...) throws -> String {
    try run(arguments)
}

/// Runs a command (no shell) and returns its standard output; throws when it fails.
@discardableResult
func run(_ arguments: [String]) throws -> String {
    let result = try capture(arguments)
    guard result.status == 0 else { throw CommandFailed(command: arguments, result: result) }
    return result.output
}

/// Runs a command (no shell) with extra environment and returns all it said.
func capture(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Drain standard error on another thread, so a chatty child cannot fill one pipe
    // while we wait on the other.
    let err = ErrorDrain(errors.fileHandleForReading)
    let out = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
        errors: String(decoding: err.wait(), as: UTF8.self))
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
let isRoot = getuid() == 0

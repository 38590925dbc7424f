import HostNetwork
import VXLANCore

/// `vxlanctl check`'s lines about an underlay that is a tunnel (WireGuard, GRE, tun): the
/// mode must not need multicast, and with WireGuard every remote must be inside a peer's
/// allowed IPs. Nothing for an ordinary NIC or bridge.
struct TunnelUnderlayChecks {
    let config: Config
    let underlay: Link

    func run() -> [PreflightResult] {
        let mode = EncryptedUnderlay.modeCheck(
            mode: config.mode, underlay: underlay.name, pointToPoint: underlay.isPointToPoint)
        return [mode, wireGuard()].compactMap { $0 }
    }

    private func wireGuard() -> PreflightResult? {
        switch WireGuardDevice.allowedIPs(of: underlay) {
        case .none:
            return nil
        case .failure(let reason):
            return PreflightResult(
                "wireguard", .warn, "\(underlay.name) is a WireGuard device, but its peers cannot be read: \(reason)",
                fix: "install wireguard-tools (wg) and run as root")
        case .success(let allowed):
            return EncryptedUnderlay.remotesCheck(
                config.mode == .unicast ? config.remotes : [], allowedIPs: allowed, device: underlay.name)
        }
    }
}

/// A WireGuard device's peers, read with `wg show DEV allowed-ips` (wireguard-tools,
/// spawned without a shell) rather than the WireGuard generic netlink family: only the
/// kernel module speaks genetlink; wireguard-go (where the kernel has no module) answers
/// only on its UAPI socket, /var/run/wireguard/DEV.sock, and `wg` speaks both.
enum WireGuardDevice {
    /// The allowed IPs of every peer of `link`; nil when it is not a WireGuard device (a
    /// point-to-point device that `wg` does not know), a failure naming why they cannot be read
    /// of a kernel WireGuard device.
    static func allowedIPs(of link: Link) -> Result<[IPNetwork], ReadError>? {
        let isKernelDevice = link.kind == "wireguard"
        guard isKernelDevice || link.isPointToPoint else { return nil }
        guard let result = ChildProcess.run(["wg", "show", link.name, "allowed-ips"], mergingErrors: true) else {
            return isKernelDevice ? .failure(ReadError(reason: "wg is not installed")) : nil
        }
        guard result.status == 0 else {
            let reason = result.output.split(separator: "\n").first.map(String.init) ?? "exit status \(result.status)"
            return isKernelDevice ? .failure(ReadError(reason: reason)) : nil
        }
        return .success(EncryptedUnderlay.allowedIPs(parsingWGShow: result.output))
    }

    struct ReadError: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }
}

import Foundation
import NamespaceTestSupport
import Testing

@testable import HookRuntime
@testable import Metrics
@testable import VXLANCore

/// Debian's `prometheus` and `prometheus-node-exporter`, run by the tests themselves
/// inside a test namespace (Scripts/install-dependencies test installs them; their
/// own services stay stopped).
let hasPrometheus = ["/usr/bin/prometheus", "/usr/bin/promtool", "/usr/bin/prometheus-node-exporter"].allSatisfy {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// A Prometheus server and a node_exporter in `namespace`, on its loopback: Prometheus
/// scrapes the watcher's `/metrics` (job libvirt-vxlan) and node_exporter (job node),
/// which serves the watcher's textfile, every second. Killed by pid when the test ends.
final class PrometheusStack {
    let namespace: NetworkNamespace
    let prometheus: ChildProcess
    let nodeExporter: ChildProcess

    init(in namespace: NetworkNamespace, folder: TemporaryFolder, watcher: String, textfiles: String) throws {
        self.namespace = namespace
        let config = try folder.write(
            "prometheus.yml",
            """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: libvirt-vxlan
                static_configs:
                  - targets: ["\(watcher)"]
              - job_name: node
                static_configs:
                  - targets: ["127.0.0.1:9100"]

            """)
        let log = open(folder.path + "/prometheus.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(log) }
        nodeExporter = try ChildProcess(
            [
                "ip", "netns", "exec", namespace.name, "prometheus-node-exporter", "--collector.disable-defaults",
                "--collector.textfile", "--collector.textfile.directory=\(textfiles)",
                "--web.listen-address=127.0.0.1:9100",
            ], stderr: log)
        prometheus = try ChildProcess(
            [
                "ip", "netns", "exec", namespace.name, "prometheus", "--config.file=\(config)",
                "--storage.tsdb.path=\(folder.path)/tsdb", "--web.listen-address=127.0.0.1:9090",
            ], stderr: log)
    }

    deinit {
        prometheus.stop()
        nodeExporter.stop()
    }

    /// The value of an instant query that selects one series, nil while it has none.
    func value(_ query: String) throws -> Double? {
        let result = try namespace.exec(["promtool", "query", "instant", "-o", "json", "http://127.0.0.1:9090", query])
        guard result.status == 0, let data = result.output.data(using: .utf8),
            let series = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]], series.count == 1,
            let sample = series[0]["value"] as? [Any], sample.count == 2, let text = sample[1] as? String
        else { return nil }
        return Double(text)
    }

    /// Waits until `query` reads `expected` (scrapes come every second).
    func reads(_ query: String, _ expected: Double) throws -> Bool {
        try eventually(seconds: 30) { try value(query) == expected }
    }
}

@Suite(.enabled(if: isRoot && hasPrometheus, "needs root and Debian's prometheus and prometheus-node-exporter"))
struct MetricsTests {
    /// Two guests start on VNI 5001, the vxlan device is deleted (the watcher repairs it),
    /// both guests stop (the reaper removes the segment). Prometheus, scraping the
    /// watcher's endpoint and node_exporter's textfile collector, reads back exactly
    /// what happened: two prepares and two releases, one repair of a missing device, one
    /// segment removed.
    @Test func testPrometheusReadsWhatTheHostDid() throws {
        let host = try HookHost("metrics")
        let textfiles = host.folder.path + "/node-exporter"
        try FileManager.default.createDirectory(atPath: textfiles, withIntermediateDirectories: false)
        let guests = [1, 2].map { domainXML("g\($0)", uuid: uuid($0), bridges: ["brvx-5001"]) }
        for (index, xml) in guests.enumerated() {
            let prepare = try host.hook("qemu", "g\(index + 1)", "prepare", "begin", input: xml)
            try #require(prepare.status == 0, "\(prepare.errors)")
        }
        let watcher = try Watcher(
            on: host,
            options: [
                "--metrics-listen", "127.0.0.1:9470", "--metrics-textfile", textfiles + "/libvirt_vxlan.prom",
                "--metrics-interval", "1",
            ])
        // A client that connects and says nothing holds one of the endpoint's slots, never
        // its loop: every scrape below is served meanwhile.
        let silent = try ChildProcess([
            "ip", "netns", "exec", host.namespace.name, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9470; sleep 60",
        ])
        defer { silent.stop() }
        let stack = try PrometheusStack(
            in: host.namespace, folder: host.folder, watcher: "127.0.0.1:9470", textfiles: textfiles)
        let calls = "libvirt_vxlan_hook_calls_total{job=\"libvirt-vxlan\",driver=\"qemu\""
        #expect(try stack.reads("\(calls),phase=\"prepare\",outcome=\"ok\"}", 2), "\(watcher.output)")
        #expect(try stack.reads("libvirt_vxlan_segment_users{job=\"libvirt-vxlan\",vni=\"5001\"}", 2))
        #expect(try stack.reads("libvirt_vxlan_segments{job=\"libvirt-vxlan\",state=\"complete\"}", 1))
        let repairs = "libvirt_vxlan_watcher_repairs_total{cause=\"missing\""
        #expect(try stack.reads("\(repairs),job=\"libvirt-vxlan\"}", 0))

        try host.namespace.ip("link", "del", "vxlan5001")
        #expect(try eventually { try host.segmentIsComplete(5001) }, "\(watcher.output)")
        #expect(try stack.reads("\(repairs),job=\"libvirt-vxlan\"}", 1))
        // The same counter through node_exporter's textfile collector.
        #expect(try stack.reads("\(repairs),job=\"node\"}", 1))

        for (index, xml) in guests.enumerated() {
            #expect(try host.hook("qemu", "g\(index + 1)", "release", "end", input: xml).status == 0)
        }
        host.settle()
        #expect(try stack.reads("\(calls),phase=\"release\",outcome=\"ok\"}", 2))
        #expect(try stack.reads("libvirt_vxlan_reaper_segments_removed_total{job=\"libvirt-vxlan\"}", 1))
        #expect(try stack.reads("libvirt_vxlan_reaper_batches_total{job=\"libvirt-vxlan\"}", 1))
        #expect(try stack.reads("libvirt_vxlan_segments{job=\"libvirt-vxlan\",state=\"complete\"}", 0))
        // Exactly one repair, however many checks the release's notifications caused.
        #expect(try stack.value("\(repairs),job=\"libvirt-vxlan\"}") == 1)
        #expect(try stack.value("sum(libvirt_vxlan_watcher_repair_failures_total{job=\"libvirt-vxlan\"})") == 0)
        #expect(watcher.stop())
    }

    /// What the endpoint and vxlanctl metrics print passes promtool's checks (format and
    /// naming conventions), with a segment in use, its counters and the hook's histogram.
    @Test func testExpositionPassesPromtoolCheckMetrics() throws {
        let host = try HookHost("promtool")
        let xml = domainXML("g1", uuid: uuid(1), bridges: ["brvx-5001"])
        try #require(try host.hook("qemu", "g1", "prepare", "begin", input: xml).status == 0)
        let metrics = try host.namespace.exec(
            [builtProduct("vxlanctl"), "metrics", "--config", host.config],
            environment: ["LIBVIRT_VXLAN_STATE_DIR": host.state])
        try #require(metrics.status == 0, "\(metrics.errors)")
        #expect(metrics.output.contains("libvirt_vxlan_segment_complete{vni=\"5001\",mode=\"multicast\""))
        let check = try capture(["promtool", "check", "metrics"], input: Array(metrics.output.utf8))
        #expect(check.status == 0, "\(check.output)\(check.errors)")
        #expect(check.output.isEmpty && check.errors.isEmpty, "lint: \(check.output)\(check.errors)")
    }
}

@Suite(.enabled(if: isRoot, "needs root to create network namespaces"))
struct PeerCheckMetricsTests {
    /// Unicast hosts A and B on one switch; A's watcher checks the path to B every second
    /// and its textfile carries the verdict: pass, then, once the switch port towards B
    /// drops frames over 1400 bytes without a word (a bridge does), black_hole.
    @Test func testPeerVerdictFollowsThePath() throws {
        let hosts = try TwoHosts(mode: "unicast")
        let textfile = hosts.a.folder.path + "/libvirt_vxlan.prom"
        let watcher = try Watcher(
            on: hosts.a,
            options: ["--peer-check-interval", "1", "--metrics-textfile", textfile, "--metrics-interval", "1"])
        func verdict(_ label: String) -> Bool {
            let text = (try? String(contentsOfFile: textfile, encoding: .utf8)) ?? ""
            return text.contains("libvirt_vxlan_peer_path{peer=\"192.0.2.2\",verdict=\"\(label)\"} 1\n")
        }
        #expect(eventually { verdict("pass") }, "\(watcher.output)")
        try hosts.fabric.ip("link", "set", "sw-b", "mtu", "1400")
        #expect(eventually { verdict("black_hole") }, "\(watcher.output)")
        #expect(watcher.output.contains("watch: peer "), "a changed verdict is logged")
        #expect(watcher.stop())
    }
}

import Foundation
import NamespaceTestSupport
import Testing
import VXLANCore

@testable import Metrics

/// The repository's Samples folder.
private let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Samples")

private let hasPromtool = FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")

@Suite(.enabled(if: hasPromtool, "needs Debian's prometheus (promtool)"))
struct AlertRuleTests {
    @Test func testAlertRulesAreValid() throws {
        let check = try capture([
            "promtool", "check", "rules", samples.appendingPathComponent("prometheus-alerts.yml").path,
        ])
        #expect(check.status == 0, "\(check.output)\(check.errors)")
    }

    /// The rule tests: a partial segment fires after a minute, repairs failing, a black
    /// hole, IGMP near the limit, the watcher down.
    @Test func testAlertRulesFireOnTheFailuresTheyAreFor() throws {
        let test = try capture([
            "promtool", "test", "rules", samples.appendingPathComponent("prometheus-alerts.test.yml").path,
        ])
        #expect(test.status == 0, "\(test.output)\(test.errors)")
    }

    /// Every query of the Grafana dashboard parses as PromQL (Grafana's variables given
    /// values), checked by promtool as the expressions of recording rules.
    @Test func testDashboardQueriesParse() throws {
        let data = try Data(contentsOf: samples.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let expressions = panels.flatMap {
            ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        try #require(expressions.count > 10)
        let rules = expressions.enumerated().map { index, expression in
            let concrete = expression.replacingOccurrences(of: "$__rate_interval", with: "1m")
                .replacingOccurrences(of: "$__range", with: "1h").replacingOccurrences(of: "$instance", with: ".*")
            return
                "      - record: dashboard:query\(index)\n        expr: '\(concrete.replacingOccurrences(of: "'", with: "''"))'\n"
        }
        let folder = try TemporaryFolder()
        let file = try folder.write(
            "dashboard-rules.yml", "groups:\n  - name: dashboard\n    rules:\n" + rules.joined())
        let check = try capture(["promtool", "check", "rules", file])
        #expect(check.status == 0, "\(check.output)\(check.errors)")
    }
}

struct MetricsEndpointTests {
    @Test(arguments: [
        ("127.0.0.1:9470", "127.0.0.1:9470", true), ("[::1]:9470", "[::1]:9470", true),
        ("192.0.2.11:80", "192.0.2.11:80", false), ("[2001:db8::1]:9470", "[2001:db8::1]:9470", false),
    ])
    func testListenAddressesParse(text: String, printed: String, loopback: Bool) throws {
        let address = try #require(ListenAddress(text))
        #expect(address.description == printed)
        #expect(address.isLoopback == loopback)
    }

    @Test(arguments: [
        "localhost:9470", "9470", ":9470", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9470",
        "239.1.1.1:9470", "[::1]9470",
    ])
    func testListenAddressesRefused(text: String) {
        #expect(ListenAddress(text) == nil)
    }

    @Test func testRequestHeadIsReadOnceComplete() {
        #expect(HTTPRequestHead(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8)) == nil)
        let head = HTTPRequestHead(Array("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(head == HTTPRequestHead(method: "GET", path: "/metrics"))
        #expect(HTTPRequestHead(Array("garbage\r\n\r\n".utf8))?.method == "")
    }

    @Test func testResponsesSayWhatTheyCarry() {
        let ok = String(decoding: MetricsEndpoint.response(200, "a 1\n", head: false), as: UTF8.self)
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(ok.hasSuffix("Content-Length: 4\r\nConnection: close\r\n\r\na 1\n"))
        let head = MetricsEndpoint.respond(to: HTTPRequestHead(method: "HEAD", path: "/metrics")) { _ in (200, "a 1\n")
        }
        #expect(String(decoding: head, as: UTF8.self).hasSuffix("\r\n\r\n"))
        let post = MetricsEndpoint.respond(to: HTTPRequestHead(method: "POST", path: "/metrics")) { _ in (200, "") }
        #expect(String(decoding: post, as: UTF8.self).hasPrefix("HTTP/1.1 405"))
    }

}

import Testing

@testable import Metrics
@testable import VXLANCore

struct MetricsExpositionTests {
    @Test func testFamilyPrintsHelpTypeAndSamples() {
        let family = MetricFamily(
            "libvirt_vxlan_segments", .gauge, help: "Segments by state.",
            samples: [
                MetricSample(3, labels: [("state", "complete")]), MetricSample(0, labels: [("state", "partial")]),
            ])
        #expect(
            renderMetrics([family]) == """
                # HELP libvirt_vxlan_segments Segments by state.
                # TYPE libvirt_vxlan_segments gauge
                libvirt_vxlan_segments{state="complete"} 3
                libvirt_vxlan_segments{state="partial"} 0

                """)
    }

    @Test func testLabelValuesAreEscaped() {
        #expect(escapeLabelValue(#"a\b"c"# + "\nd") == #"a\\b\"c\nd"#)
        #expect(escapeLabelValue("vxlan5001") == "vxlan5001")
        let family = MetricFamily(
            "x_total", .counter, help: "line one\nback\\slash \"quoted\"",
            samples: [MetricSample(1, labels: [("peer", "say \"hi\"")])])
        #expect(
            renderMetrics([family]) == """
                # HELP x_total line one\\nback\\\\slash "quoted"
                # TYPE x_total counter
                x_total{peer="say \\"hi\\""} 1

                """)
    }

    @Test func testValuesReadAsGoFloats() {
        #expect(formatMetricValue(42) == "42")
        #expect(formatMetricValue(0.25) == "0.25")
        #expect(formatMetricValue(-3) == "-3")
        #expect(formatMetricValue(.infinity) == "+Inf")
        #expect(formatMetricValue(-.infinity) == "-Inf")
        #expect(formatMetricValue(.nan) == "NaN")
        #expect(formatMetricValue(1e300) == "1e+300")
        #expect(formatMetricValue(Double(UInt64(1) << 53) + 2) == "9.007199254740994e+15")
    }

    @Test func testHistogramBucketsAreCumulativeAndInfEqualsCount() {
        var family = MetricFamily("h_seconds", .histogram, help: "h.")
        family.addHistogram(bounds: [0.1, 1], counts: [2, 3, 4], sum: 7.5, labels: [("phase", "prepare")])
        #expect(
            renderMetrics([family]) == """
                # HELP h_seconds h.
                # TYPE h_seconds histogram
                h_seconds_bucket{phase="prepare",le="0.1"} 2
                h_seconds_bucket{phase="prepare",le="1"} 5
                h_seconds_bucket{phase="prepare",le="+Inf"} 9
                h_seconds_sum{phase="prepare"} 7.5
                h_seconds_count{phase="prepare"} 9

                """)
    }

    @Test func testSnapshotReadsAsFamilies() {
        var slots = [UInt64](repeating: 0, count: CounterLayout.slotCount)
        let prepare = HookPhase.all[0]
        slots[CounterLayout.hookCall(prepare, .ok)] = 2
        slots[CounterLayout.hookDurationBucket(prepare, microseconds: 3000)] = 2
        slots[CounterLayout.hookDurationSum(prepare)] = 6000
        slots[CounterLayout.repairs(.missing)] = 1
        let text = renderMetrics(CounterLayout.families(slots))
        #expect(text.contains(#"libvirt_vxlan_hook_calls_total{driver="qemu",phase="prepare",outcome="ok"} 2"#))
        #expect(
            text.contains(#"libvirt_vxlan_hook_duration_seconds_bucket{driver="qemu",phase="prepare",le="0.0025"} 0"#))
        #expect(
            text.contains(#"libvirt_vxlan_hook_duration_seconds_bucket{driver="qemu",phase="prepare",le="0.005"} 2"#))
        #expect(text.contains(#"libvirt_vxlan_hook_duration_seconds_sum{driver="qemu",phase="prepare"} 0.006"#))
        #expect(text.contains(#"libvirt_vxlan_watcher_repairs_total{cause="missing"} 1"#))
        #expect(text.contains("# TYPE libvirt_vxlan_watcher_last_check_timestamp_seconds gauge"))
    }
}

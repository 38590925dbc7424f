import VXLANCore

/// Prometheus's text exposition format, version 0.0.4 (what Prometheus scrapes and what
/// node_exporter's textfile collector reads): one `# HELP` and one `# TYPE` line per
/// family, then its samples, `name{label="value",...} value`. Pure: the watcher's
/// `/metrics`, the textfile and `vxlanctl metrics` all print through `render`.
///
///     # HELP libvirt_vxlan_segments Segments on this host by state.
///     # TYPE libvirt_vxlan_segments gauge
///     libvirt_vxlan_segments{state="complete"} 3
public struct MetricFamily: Hashable, Sendable {
    public enum Kind: String, Sendable, DescribedByRawValue {
        case counter, gauge, histogram
    }

    /// The full name: `libvirt_vxlan_...`, with `_total` for a counter.
    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [MetricSample]

    public init(_ name: String, _ kind: Kind, help: String, samples: [MetricSample] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    /// A family of one unlabelled sample.
    public init(_ name: String, _ kind: Kind, help: String, value: Double) {
        self.init(name, kind, help: help, samples: [MetricSample(value)])
    }
}

/// One sample: labels and a value; `suffix` is a histogram's `_bucket`, `_sum` or `_count`.
public struct MetricSample: Hashable, Sendable {
    public var suffix: String
    /// In the order printed; names are ours (`[a-zA-Z_][a-zA-Z0-9_]*`), values anything.
    public var labels: [(String, String)]
    public var value: Double

    public init(_ value: Double, labels: [(String, String)] = [], suffix: String = "") {
        self.value = value
        self.labels = labels
        self.suffix = suffix
    }

    public static func == (lhs: MetricSample, rhs: MetricSample) -> Bool {
        lhs.suffix == rhs.suffix && lhs.value == rhs.value && lhs.labels.elementsEqual(rhs.labels, by: ==)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(suffix)
        hasher.combine(value)
        for (name, value) in labels {
            hasher.combine(name)
            hasher.combine(value)
        }
    }
}

extension MetricFamily {
    /// Adds a histogram's samples from per-bucket counts (not cumulative): `counts` has one
    /// more element than `bounds`, the observations above the last bound. Buckets are
    /// printed cumulative, `le="+Inf"` equal to `_count`, as the format requires.
    public mutating func addHistogram(
        bounds: [Double], counts: [UInt64], sum: Double, labels: [(String, String)] = []
    ) {
        var cumulative: UInt64 = 0
        for (position, bound) in bounds.enumerated() {
            cumulative &+= position < counts.count ? counts[position] : 0
            samples.append(
                MetricSample(Double(cumulative), labels: labels + [("le", formatMetricValue(bound))], suffix: "_bucket")
            )
        }
        if counts.count > bounds.count { cumulative &+= counts[bounds.count] }
        samples.append(MetricSample(Double(cumulative), labels: labels + [("le", "+Inf")], suffix: "_bucket"))
        samples.append(MetricSample(sum, labels: labels, suffix: "_sum"))
        samples.append(MetricSample(Double(cumulative), labels: labels, suffix: "_count"))
    }
}

/// The exposition of `families`, in the order given; a family without samples keeps its
/// HELP and TYPE lines (a counter that never moved says it exists).
public func renderMetrics(_ families: [MetricFamily]) -> String {
    var text = ""
    for family in families {
        text += "# HELP \(family.name) \(escapeMetricHelp(family.help))\n"
        text += "# TYPE \(family.name) \(family.kind)\n"
        for sample in family.samples {
            text += family.name
            text += sample.suffix
            if !sample.labels.isEmpty {
                text += "{"
                for (position, (name, value)) in sample.labels.enumerated() {
                    if position > 0 { text += "," }
                    text += "\(name)=\"\(escapeLabelValue(value))\""
                }
                text += "}"
            }
            text += " \(formatMetricValue(sample.value))\n"
        }
    }
    return text
}

/// A label value: backslash, double quote and line feed escaped.
public func escapeLabelValue(_ value: String) -> String {
    guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
    var escaped = ""
    for character in value {
        switch character {
        case "\\": escaped += "\\\\"
        case "\"": escaped += "\\\""
        case "\n": escaped += "\\n"
        default: escaped.append(character)
        }
    }
    return escaped
}

/// A HELP text: backslash and line feed escaped (quotes stay).
func escapeMetricHelp(_ help: String) -> String {
    var escaped = ""
    for character in help {
        switch character {
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        default: escaped.append(character)
        }
    }
    return escaped
}

/// A value as Go's ParseFloat reads it: integers without a fraction (counters stay exact
/// up to 2^53), `+Inf`, `-Inf`, `NaN`.
public func formatMetricValue(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
    if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
    return value.description
}

/// Counters for `/metrics`, written in Prometheus' text exposition format (version 0.0.4).
///
/// The server's own few series, kept under one lock: a metrics library would add a registry and a dependency
/// for the same four families.
public final class ServerMetrics: Sendable {
    /// Upper bounds of the latency histogram's buckets, in seconds: a ResNet-50 image takes tens of
    /// milliseconds on a few cores, a large batch seconds.
    static let bucketBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct ModelCounters: Sendable {
        var requests = 0
        var failures: [Int: Int] = [:]
        var bucketCounts = [Int](repeating: 0, count: ServerMetrics.bucketBounds.count)
        var latencyCount = 0
        var latencySum = 0.0
        var inFlight = 0
    }

    private let state: Locked<[String: ModelCounters]>
    private let modelNames: [String]

    /// Counters for these models, reported in this order.
    public init(models: [String]) {
        modelNames = models
        state = Locked(Dictionary(uniqueKeysWithValues: models.map { ($0, ModelCounters()) }))
    }

    /// An inference request for `model` arrived.
    func requestStarted(model: String) {
        state.withLock { $0[model]?.requests += 1 }
    }

    /// A run of `model` began (`delta` 1) or ended (-1).
    func runsInFlight(model: String, delta: Int) {
        state.withLock { $0[model]?.inFlight += delta }
    }

    /// An inference request finished with `status` after `seconds`; any status but 200 counts as a failure.
    func requestFinished(model: String, status: Int, seconds: Double) {
        state.withLock { counters in
            guard var entry = counters[model] else { return }
            if status != 200 { entry.failures[status, default: 0] += 1 }
            entry.latencyCount += 1
            entry.latencySum += seconds
            for (index, bound) in Self.bucketBounds.enumerated() where seconds <= bound { entry.bucketCounts[index] += 1 }
            counters[model] = entry
        }
    }

    /// The exposition text.
    public func exposition() -> String {
        let snapshot = state.withLock { $0 }
        var text = ""
        text += "# HELP resin_inference_requests_total Inference requests received.\n"
        text += "# TYPE resin_inference_requests_total counter\n"
        for name in modelNames { text += "resin_inference_requests_total{model=\(label(name))} \(snapshot[name]!.requests)\n" }
        text += "# HELP resin_inference_failures_total Inference requests answered with an error, by HTTP status.\n"
        text += "# TYPE resin_inference_failures_total counter\n"
        for name in modelNames {
            for (status, count) in snapshot[name]!.failures.sorted(by: { $0.key < $1.key }) {
                text += "resin_inference_failures_total{model=\(label(name)),status=\"\(status)\"} \(count)\n"
            }
        }
        text += "# HELP resin_inference_duration_seconds Time from a request's arrival to its answer.\n"
        text += "# TYPE resin_inference_duration_seconds histogram\n"
        for name in modelNames {
            let entry = snapshot[name]!
            for (index, bound) in Self.bucketBounds.enumerated() {
                text += "resin_inference_duration_seconds_bucket{model=\(label(name)),le=\"\(bound)\"} \(entry.bucketCounts[index])\n"
            }
            text += "resin_inference_duration_seconds_bucket{model=\(label(name)),le=\"+Inf\"} \(entry.latencyCount)\n"
            text += "resin_inference_duration_seconds_sum{model=\(label(name))} \(entry.latencySum)\n"
            text += "resin_inference_duration_seconds_count{model=\(label(name))} \(entry.latencyCount)\n"
        }
        text += "# HELP resin_inference_runs_in_flight Runs of the model in progress or waiting for a session.\n"
        text += "# TYPE resin_inference_runs_in_flight gauge\n"
        for name in modelNames { text += "resin_inference_runs_in_flight{model=\(label(name))} \(snapshot[name]!.inFlight)\n" }
        return text
    }

    /// A label value, escaped as the exposition format requires.
    private func label(_ value: String) -> String {
        var result = "\""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result + "\""
    }
}

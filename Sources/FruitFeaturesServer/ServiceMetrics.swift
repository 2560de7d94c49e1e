import CoreMetrics
import Prometheus

/// The service's Prometheus metrics, recorded through swift-metrics into a registry of its own.
///
/// The metrics are made with an explicit factory, so the server library never bootstraps the process-wide
/// `MetricsSystem`; an executable that does (as `fruitfeatures-server`) can hand the same registry to it, and then
/// `GET /metrics` shows Hummingbird's and any other library's metrics too.
public final class ServiceMetrics: Sendable {
    /// Where the metrics live; `GET /metrics` prints it.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let imagesRecognised: CoreMetrics.Counter
    private let queueDepth: CoreMetrics.Gauge
    private let placesHeld: CoreMetrics.Gauge
    private let modelRows: CoreMetrics.Gauge

    /// Metrics in `registry` (a new one by default).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Latency buckets for answers that take milliseconds (a 100×100 photo) to seconds (a 12-megapixel one).
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30),
        ]
        self.factory = factory
        imagesRecognised = CoreMetrics.Counter(label: "fruitfeatures_images_recognised_total", factory: factory)
        queueDepth = CoreMetrics.Gauge(label: "fruitfeatures_queue_depth", factory: factory)
        placesHeld = CoreMetrics.Gauge(label: "fruitfeatures_requests_holding_place", factory: factory)
        modelRows = CoreMetrics.Gauge(label: "fruitfeatures_model_rows", factory: factory)
    }

    /// Counts one answered request and its latency, by route (the route pattern, never the raw path) and status.
    func recordRequest(route: String, status: Int, seconds: Double) {
        CoreMetrics.Counter(label: "fruitfeatures_http_requests_total",
                            dimensions: [("route", route), ("status", String(status))], factory: factory).increment()
        CoreMetrics.Timer(label: "fruitfeatures_http_request_duration_seconds", dimensions: [("route", route)],
                          factory: factory)
            .recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    /// Counts one photo answered with labels.
    func recordRecognition() {
        imagesRecognised.increment()
    }

    /// Counts a reload by its outcome.
    func recordReload(succeeded: Bool) {
        CoreMetrics.Counter(label: "fruitfeatures_model_reloads_total",
                            dimensions: [("result", succeeded ? "success" : "failure")], factory: factory).increment()
    }

    /// Brings the gauges up to date (called before every scrape).
    func recordState(waiting: Int, placesHeld held: Int, modelRows rows: Int) {
        queueDepth.record(waiting)
        placesHeld.record(held)
        modelRows.record(rows)
    }

    /// The registry in the Prometheus text format.
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        registry.emit(into: &buffer)
        return buffer
    }
}

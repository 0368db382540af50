import Metrics
import Prometheus

/// The process's swift-metrics values in Prometheus' text format, for `/metrics` on the chat's
/// HTTP port. The backend is bootstrapped once, the first time a command asks for it; the
/// libraries only record (`Broker.reportMetrics`, `Bridge.reportMetrics`,
/// `ChatService.reportMetrics`), and each scrape has them record first, so the figures are
/// those of the moment of the scrape.
enum PrometheusExport {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static func renderer(reporting report: @escaping @Sendable () -> Void) -> @Sendable () async -> String {
        let registry = self.registry
        return {
            report()
            var text: [UInt8] = []
            registry.emit(into: &text)
            return String(decoding: text, as: UTF8.self)
        }
    }
}

import ArgumentParser
import Foundation
import FruitFeatures
import FruitFeaturesServer
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `fruitfeatures-server --model OUT_DIR …` (also reached as `fruitfeatures serve`): the HTTP recognition service.
@main
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fruitfeatures-server",
        abstract: "Answer photos over HTTP with an extract run: POST /v1/recognize, a web page at /, metrics at /metrics.",
        discussion: """
            Binds 127.0.0.1:8080 by default (put TLS in the reverse proxy in front). Prints `listening on \
            http://HOST:PORT` on stderr when ready. SIGHUP re-opens OUT_DIR and swaps to it (a run that cannot be \
            opened keeps the old one); SIGTERM or SIGINT stops accepting, answers what is in flight and exits 0. \
            Docs/serve.md has the API, the limits and the memory they bound.
            """)

    @Option(help: ArgumentHelp("An output folder of fruitfeatures extract.", valueName: "out-dir"))
    var model: String

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 takes a free port (the line on stderr names it).")
    var port = 8080

    @Option(help: ArgumentHelp("The MobileNetV2 weights (default: the file summary.json names, else $FRUITFEATURES_WEIGHTS, else the Keras cache).",
                               valueName: "file"))
    var weights: String?

    @Option(help: "Bodies larger than this many bytes get 413.")
    var maxBodyBytes = 25 * 1024 * 1024

    @Option(help: "Photos with more pixels get 422 (default: Pillow's limit).")
    var maxPixels = JPEGDecoder.pillowPixelLimit

    @Option(help: "Photos in decode and network at once (default: the core count).")
    var concurrency = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Requests that may wait beside the working ones; more get 503 with Retry-After.")
    var queueDepth = 64

    @Option(help: "Seconds a body may take to arrive (408 after).")
    var requestTimeout: Double = 30

    @Option(help: "Seconds requests in flight get to finish on SIGTERM or SIGINT.")
    var shutdownTimeout: Double = 30

    @Option(name: .customLong("neighbors"), help: "k: how many nearest images vote (a request's ?neighbors= overrides it).")
    var neighbours = 5

    @Option(help: "Labels per answer (a request's ?top= overrides it).")
    var top = 5

    @Option(help: ArgumentHelp("Allow browsers on this origin to call the API (CORS); off by default.", valueName: "origin"))
    var allowOrigin: String?

    @Option(help: ArgumentHelp("A file whose first line is the key every /v1/ request must send as Authorization: Bearer KEY.",
                               valueName: "file"))
    var apiKeyFile: String?

    func run() async throws {
        var settings = ServerSettings(modelDirectory: model)
        settings.host = host
        settings.port = port
        settings.weights = weights
        settings.maximumBodyBytes = maxBodyBytes
        settings.maximumPixels = maxPixels
        settings.concurrency = concurrency
        settings.queueDepth = queueDepth
        settings.requestTimeout = requestTimeout
        settings.shutdownTimeout = shutdownTimeout
        settings.neighbourCount = neighbours
        settings.labelCount = top
        settings.allowedOrigin = allowOrigin
        do {
            if let apiKeyFile { settings.apiKey = try APIKey.read(from: apiKeyFile) }
            settings = try settings.validated()
        } catch {
            throw ValidationError(error.description)
        }

        // The process-wide systems are the executable's to set up, never the library's.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "fruitfeatures.server")

        let served: ServedModel
        do {
            served = try ServedModel.open(directory: settings.modelDirectory, weights: settings.weights,
                                          neighbourCount: settings.neighbourCount, pixelLimit: settings.maximumPixels)
        } catch {
            FileHandle.standardError.write(Data("fruitfeatures-server: error: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        let service = RecognitionService(settings: settings, store: ModelStore(served),
                                         metrics: ServiceMetrics(registry: registry), logger: logger)
        let application = service.makeApplication { host, port in
            let shown = host.contains(":") ? "[\(host)]" : host
            FileHandle.standardError.write(Data("listening on http://\(shown):\(port)\n".utf8))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: application), .init(service: ReloadOnHangup(service: service))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int64(settings.shutdownTimeout * 1000))
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            try? await service.queue.shutdown()
            FileHandle.standardError.write(Data("fruitfeatures-server: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try? await service.queue.shutdown()
        logger.info("stopped")
    }
}

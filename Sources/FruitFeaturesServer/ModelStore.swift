import Logging
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The run the service answers from, swapped as a whole on reload.
///
/// A request takes the current model once, at its start, and keeps it: requests in flight during a reload finish on
/// the model they started with, and the old model is freed when the last of them is answered.
public final class ModelStore: Sendable {
    private let current: NIOLockedValueBox<ServedModel?>

    /// A store holding `model` (nil: not ready; `/readyz` answers 503 until a model is set).
    public init(_ model: ServedModel? = nil) {
        current = NIOLockedValueBox(model)
    }

    /// The model to answer the next request with.
    public var model: ServedModel? { current.withLockedValue { $0 } }

    /// Replaces the model; requests already holding the old one keep it.
    public func replace(with model: ServedModel) {
        current.withLockedValue { $0 = model }
    }
}

extension RecognitionService {
    /// Re-opens the run's folder and swaps to it; a run that cannot be opened leaves the old model in place.
    ///
    /// The loading (weights hash, features.csv) runs on NIO's blocking-I/O threads, never on the event loops or the
    /// work threads. Returns whether the new model is in place.
    @discardableResult
    public func reload() async -> Bool {
        let settings = self.settings
        logger.info("reloading the model", metadata: ["directory": "\(settings.modelDirectory)"])
        do {
            let model = try await NIOThreadPool.singleton.runIfActive {
                try ServedModel.open(directory: settings.modelDirectory, weights: settings.weights,
                                     neighbourCount: settings.neighbourCount, pixelLimit: settings.maximumPixels)
            }
            store.replace(with: model)
            metrics.recordReload(succeeded: true)
            logger.info("reloaded the model", metadata: [
                "sha256": "\(model.identity.sha256)", "rows": "\(model.description.rows)",
                "labels": "\(model.description.labels.count)",
            ])
            return true
        } catch {
            metrics.recordReload(succeeded: false)
            logger.error("reload failed, still answering from the previous model: \(error)")
            return false
        }
    }
}

/// Reloads the model on every SIGHUP until the service shuts down.
public struct ReloadOnHangup: Service {
    let service: RecognitionService

    /// Reloads `service`'s model on SIGHUP.
    public init(service: RecognitionService) {
        self.service = service
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            await service.reload()
        }
    }
}

import Foundation
import FruitFeatures
import Hummingbird
import Logging
import MultipartKit
import NIOCore
import NIOHTTP1

/// The HTTP recognition service: routes, limits, metrics, on Hummingbird.
///
/// Build one from ``ServerSettings`` and a ``ModelStore``, then run ``makeApplication(onListening:)`` (in a
/// `ServiceGroup` beside ``ReloadOnHangup`` for SIGHUP reloads). The service never bootstraps `LoggingSystem` or
/// `MetricsSystem`: its logger and its metrics registry are given to it.
///
/// Routes: `POST /v1/recognize`, `GET /v1/model`, `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /` (the
/// page) and `GET /openapi.json`. Errors are JSON `{"error": "…"}`.
public struct RecognitionService: Sendable {
    /// The settings it runs with.
    public let settings: ServerSettings
    /// The model it answers from.
    public let store: ModelStore
    /// Places and work threads.
    public let queue: WorkQueue
    /// Prometheus metrics.
    public let metrics: ServiceMetrics
    /// Where the access log and reload messages go (one line per request at `info`).
    public let logger: Logger
    private let apiKey: APIKey?

    /// A service answering from `store` (which may still be empty: `/readyz` says so).
    public init(settings: ServerSettings, store: ModelStore, metrics: ServiceMetrics = ServiceMetrics(),
                logger: Logger = Logger(label: "fruitfeatures.server")) {
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.logger = logger
        queue = WorkQueue(concurrency: settings.concurrency, queueDepth: settings.queueDepth)
        apiKey = settings.apiKey.map(APIKey.init)
    }

    /// The routes and middleware.
    public func makeRouter() -> Router<ServiceRequestContext> {
        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: AccessMiddleware(service: self))
        if let origin = settings.allowedOrigin {
            router.add(middleware: CORSMiddleware(
                allowOrigin: .custom(origin), allowHeaders: [.contentType, .authorization],
                allowMethods: [.get, .post, .options], maxAge: .seconds(600)))
        }
        router.add(middleware: APIKeyMiddleware(key: apiKey))
        router.post("/v1/recognize") { request, context in await self.recognize(request, context: context) }
        router.get("/v1/model") { _, _ in
            guard let model = self.store.model else { return Self.notReady() }
            return Self.json(.ok, model.description)
        }
        router.get("/healthz") { _, _ in Self.json(.ok, ["status": "alive"]) }
        router.get("/readyz") { _, _ in
            self.store.model == nil ? Self.notReady() : Self.json(.ok, ["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            self.metrics.recordState(waiting: self.queue.waiting, placesHeld: self.queue.placesHeld,
                                     modelRows: self.store.model?.description.rows ?? 0)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.exposition())))
        }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [
                .contentType: "text/html; charset=utf-8",
                // The page is self-contained: nothing may be fetched but the API on this origin.
                .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob: data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
                .xContentTypeOptions: "nosniff",
            ], body: .init(byteBuffer: ByteBuffer(string: RecognitionPage.html)))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        return router
    }

    /// The Hummingbird application on ``ServerSettings/host`` and ``ServerSettings/port``; `onListening` gets the
    /// host and the port actually bound (the free one when the port is 0) once the server accepts connections.
    public func makeApplication(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in })
        -> some ApplicationProtocol
    {
        let host = settings.host
        // Connections idle (no request part arriving) this long are closed: covers clients that stall before or
        // between requests; a stalled body is answered 408 by the route first.
        let idle = TimeAmount.milliseconds(Int64((settings.requestTimeout + 5) * 1000))
        return Application(
            router: makeRouter(),
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: .init(address: .hostname(host, port: settings.port), serverName: nil),
            onServerRunning: { channel in onListening(host, channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    // MARK: - POST /v1/recognize

    private func recognize(_ request: Request, context: ServiceRequestContext) async -> Response {
        let started = ContinuousClock.now
        let query = request.uri.queryParameters
        let labelCount: Int
        let neighbourCount: Int
        switch (Self.bounded(query.get("top"), name: "top", default: settings.labelCount, maximum: ServerSettings.maximumLabelCount),
                Self.bounded(query.get("neighbors"), name: "neighbors", default: settings.neighbourCount,
                             maximum: ServerSettings.maximumNeighbourCount)) {
        case (.success(let top), .success(let k)):
            labelCount = top
            neighbourCount = k
        case (.failure(let message), _), (_, .failure(let message)):
            return Self.refusal(.badRequest, message.text, request: request, context: context)
        }
        guard let kind = BodyKind(contentType: request.headers[.contentType]) else {
            return Self.refusal(.unsupportedMediaType,
                                "send the photo as image/jpeg, application/octet-stream or multipart/form-data with a field photo",
                                request: request, context: context)
        }
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        if let declaredLength, declaredLength > settings.maximumBodyBytes {
            return Self.refusal(.contentTooLarge,
                                "the body of \(declaredLength) bytes exceeds the limit of \(settings.maximumBodyBytes) bytes",
                                request: request, context: context)
        }
        guard let model = store.model else {
            return Self.refusal(.serviceUnavailable, "the model is not loaded yet", request: request, context: context,
                                retryAfter: 1)
        }
        guard queue.takePlace() else {
            return Self.refusal(.serviceUnavailable, "the service is busy: every place in the queue is taken",
                                request: request, context: context, retryAfter: 1)
        }
        defer { queue.releasePlace() }

        var body: ByteBuffer
        switch await readBody(request, context: context) {
        case .received(let buffer):
            body = buffer
        case .tooLarge:
            return Self.refusal(.contentTooLarge, "the body exceeds the limit of \(settings.maximumBodyBytes) bytes",
                                request: request, context: context)
        case .timedOut:
            return Self.refusal(.requestTimeout,
                                "the body did not arrive within \(Self.seconds(settings.requestTimeout)) s",
                                request: request, context: context)
        case .failed(let reason):
            return Self.refusal(.badRequest, "the body could not be read: \(reason)", request: request, context: context)
        }
        if case .multipart(let boundary) = kind {
            guard let photo = Self.photoPart(of: body, boundary: boundary) else {
                return Self.json(.badRequest, ErrorBody(error: "not a multipart/form-data body with a field photo"))
            }
            body = photo
        }
        guard body.readableBytes > 0 else {
            return Self.json(.badRequest, ErrorBody(error: "empty body: no photo"))
        }
        let photo = body
        do {
            var answer = try await queue.run {
                try photo.withUnsafeReadableBytes { bytes throws(RecognitionFailure) in
                    try model.recognize(bytes, name: "photo", labelCount: labelCount, neighbourCount: neighbourCount)
                }
            }
            answer.seconds = Self.elapsed(since: started)
            metrics.recordRecognition()
            return Self.json(.ok, answer)
        } catch let failure as RecognitionFailure {
            switch failure.kind {
            case .unusableImage: return Self.json(.badRequest, ErrorBody(error: failure.reason))
            case .tooLarge: return Self.json(.unprocessableContent, ErrorBody(error: failure.reason))
            case .internalFailure:
                logger.error("recognition failed: \(failure.reason)")
                return Self.json(.internalServerError, ErrorBody(error: "internal error"))
            }
        } catch {
            // The work threads stopped: the service is shutting down.
            return Self.json(.serviceUnavailable, ErrorBody(error: "the service is shutting down"),
                             headers: [.retryAfter: "1"])
        }
    }

    /// How the photo travels in the body.
    private enum BodyKind {
        case raw
        case multipart(boundary: String)

        init?(contentType: String?) {
            guard let contentType else { return nil }
            let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            switch parts.first?.lowercased() {
            case "image/jpeg", "application/octet-stream":
                self = .raw
            case "multipart/form-data":
                let boundary = parts.dropFirst().first { $0.lowercased().hasPrefix("boundary=") }
                    .map { String($0.dropFirst("boundary=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                guard let boundary, !boundary.isEmpty else { return nil }
                self = .multipart(boundary: boundary)
            default:
                return nil
            }
        }
    }

    /// The field `photo` of a multipart/form-data body (what the page sends); nil when the body is malformed or has
    /// no such field.
    static func photoPart(of body: ByteBuffer, boundary: String) -> ByteBuffer? {
        // MultipartKit traps (an index out of range in its 128-entry table) on a header name byte of 0x80 or above:
        // such a form is refused here, before it reaches the parser (found by schemathesis fuzzing the service).
        guard headerNamesAreASCII(in: body, boundary: boundary) else { return nil }
        let parser = MultipartParser(boundary: boundary)
        var headers = HTTPHeaders()
        var content = ByteBuffer()
        var photo: ByteBuffer?
        parser.onHeader = { name, value in headers.add(name: name, value: value) }
        parser.onBody = { chunk in
            // Only the photo's bytes are kept; other fields are dropped as they stream by.
            if photo == nil, MultipartPart(headers: headers, body: ByteBuffer()).name == "photo" {
                content.writeBuffer(&chunk)
            }
        }
        parser.onPartComplete = {
            if photo == nil, MultipartPart(headers: headers, body: ByteBuffer()).name == "photo" { photo = content }
            headers = HTTPHeaders()
            content = ByteBuffer()
        }
        do {
            try parser.execute(body)
        } catch {
            return nil
        }
        return photo
    }

    /// Whether every header name of every part is ASCII: the bytes of each header line up to its colon (or its end),
    /// in the header block after each `--boundary` CRLF, wherever the boundary occurs (a superset of the blocks a
    /// parser reads as headers).
    static func headerNamesAreASCII(in body: ByteBuffer, boundary: String) -> Bool {
        let delimiter = Array(("--" + boundary).utf8)
        let (cr, lf, colon): (UInt8, UInt8, UInt8) = (13, 10, 58)
        return body.withUnsafeReadableBytes { bytes in
            let n = bytes.count
            var start = 0
            while let found = bytes[start...].firstIndex(of: delimiter[0]) {
                start = found + 1
                guard found + delimiter.count + 2 <= n,
                      bytes[found..<(found + delimiter.count)].elementsEqual(delimiter),
                      bytes[found + delimiter.count] == cr, bytes[found + delimiter.count + 1] == lf else { continue }
                var position = found + delimiter.count + 2
                // Header lines until the empty line (or the end).
                while position < n, bytes[position] != cr {
                    while position < n, bytes[position] != colon, bytes[position] != cr {
                        if bytes[position] >= 0x80 { return false }
                        position += 1
                    }
                    while position < n, bytes[position] != cr { position += 1 }
                    position += 2  // CR LF
                }
            }
            return true
        }
    }

    private enum BodyOutcome: Sendable {
        case received(ByteBuffer)
        case tooLarge
        case timedOut
        case failed(String)
    }

    /// Collects the body, at most ``ServerSettings/maximumBodyBytes``, within ``ServerSettings/requestTimeout``.
    private func readBody(_ request: Request, context: ServiceRequestContext) async -> BodyOutcome {
        let limit = settings.maximumBodyBytes
        let timeout = settings.requestTimeout
        let channel = context.channel
        return await withTaskGroup(of: BodyOutcome?.self) { group in
            group.addTask {
                do {
                    return .received(try await request.body.collect(upTo: limit))
                } catch is NIOTooManyBytesError {
                    return .tooLarge
                } catch {
                    return .failed("\(error)")
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                } catch {
                    return nil  // cancelled: the body arrived first
                }
                // Should the reader not stop on cancellation, closing the connection stops it.
                channel?.eventLoop.scheduleTask(in: .seconds(2)) { channel?.close(promise: nil) }
                return .timedOut
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .timedOut
        }
    }

    // MARK: - Answers

    /// `{"error": "…"}`.
    struct ErrorBody: Codable, Sendable {
        var error: String
    }

    /// The JSON of every answer: snake_case keys, as `predict --json`.
    static func json(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"internal error"}"#.utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func notReady() -> Response {
        json(.serviceUnavailable, ErrorBody(error: "the model is not loaded"), headers: [.retryAfter: "1"])
    }

    /// An error answered before the body was read. A body may still be on its way: the answer says
    /// `Connection: close`, Hummingbird reads and drops what follows, and the connection is closed after a short
    /// grace so a client that keeps sending cannot hold it (the client has its answer by then).
    static func refusal(_ status: HTTPResponse.Status, _ message: String, request: Request,
                        context: ServiceRequestContext, retryAfter: Int? = nil) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let bodyMayFollow = request.headers[.transferEncoding] != nil
            || (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0
        if bodyMayFollow {
            headers[.connection] = "close"
            if let channel = context.channel {
                channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            }
        }
        return json(status, ErrorBody(error: message), headers: headers)
    }

    private struct BoundsFailure: Error { var text: String }

    /// A query parameter within 1…maximum, or the default when absent.
    private static func bounded(_ value: String?, name: String, default fallback: Int, maximum: Int) -> Result<Int, BoundsFailure> {
        guard let value else { return .success(fallback) }
        guard let number = Int(value), (1...maximum).contains(number) else {
            return .failure(BoundsFailure(text: "\(name) must be a whole number between 1 and \(maximum)"))
        }
        return .success(number)
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let duration = ContinuousClock.now - start
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// The request context of the service: Hummingbird's core storage and the connection, which the service closes
/// after refusing a body it did not read.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on (nil when tests build contexts without one).
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The service applies its own limit (``ServerSettings/maximumBodyBytes``).
    public var maxUploadSize: Int { .max }
}

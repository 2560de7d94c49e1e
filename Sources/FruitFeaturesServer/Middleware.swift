import Foundation
import Hummingbird
import Logging

/// One access-log line per request, its metrics, and every error as JSON (`{"error": "…"}`), 405 included.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let service: RecognitionService

    /// The methods of each route, for 405 and its `Allow` header (Hummingbird answers 404 for a known path
    /// with an unknown method).
    static let routes: [String: [HTTPRequest.Method]] = [
        "/v1/recognize": [.post], "/v1/model": [.get, .head], "/healthz": [.get, .head], "/readyz": [.get, .head],
        "/metrics": [.get, .head], "/": [.get, .head], "/openapi.json": [.get, .head],
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.errorResponse(error, request: request)
        }
        let seconds = RecognitionService.elapsed(since: started)
        let path = request.uri.path
        // Metrics by route pattern; unknown paths share one series so a scan cannot grow the registry.
        let route = Self.routes[path] != nil ? path : "unmatched"
        service.metrics.recordRequest(route: route, status: response.status.code, seconds: seconds)
        service.logger.info("\(request.method) \(Self.printable(request.uri.description)) \(response.status.code) \(String(format: "%.4f", seconds))s")
        return response
    }

    /// 404/405 and any other thrown error, as JSON.
    static func errorResponse(_ error: any Error, request: Request) -> Response {
        let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
        if status == .notFound, let allowed = routes[request.uri.path] {
            return RecognitionService.json(
                .methodNotAllowed, RecognitionService.ErrorBody(error: "\(request.method) is not allowed on \(request.uri.path)"),
                headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
        }
        let message: String
        switch status {
        case .notFound: message = "no such route"
        case .internalServerError: message = "internal error"
        default: message = (error as? HTTPError)?.body ?? status.reasonPhrase
        }
        return RecognitionService.json(status, RecognitionService.ErrorBody(error: message))
    }

    /// A request target as one log line: control characters escaped, at most 200 characters.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(200) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }
        return out
    }
}

/// With an API key set, every `/v1/` request needs `Authorization: Bearer KEY` (401 otherwise).
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let key: APIKey?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key, request.uri.path.hasPrefix("/v1/"), request.method != .options else {
            return try await next(request, context)
        }
        guard key.accepts(authorization: request.headers[.authorization]) else {
            var response = RecognitionService.refusal(.unauthorized, "a valid API key is needed: Authorization: Bearer KEY",
                                                      request: request, context: context)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}

import Foundation
import FruitFeatures
@testable import FruitFeaturesServer
import Hummingbird
import HummingbirdTesting
import Testing

/// The routes through Hummingbird's router test framework: statuses, JSON shapes, limits, key, CORS, reload.
@Suite struct RouteTests {
    static func decode(_ body: ByteBuffer) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])
    }

    static func jpeg(_ relative: String = "images/Apple/0_100.jpg") throws -> ByteBuffer {
        ByteBuffer(bytes: try ServerFixture.bytes(relative))
    }

    @Test func recognisesAPhotoAsPredictDoes() async throws {
        let run = try await ServerFixture.run()
        let service = try ServerFixture.service(run)
        let expected = try FruitRecognizer(contentsOf: URL(fileURLWithPath: run), weights: ServerFixture.weights)
            .recognize(encodedPhoto: try ServerFixture.bytes("images/Banana/1_100.jpg"), name: "photo", labelCount: 5)
        let app = service.makeApplication()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/recognize", method: .post, headers: [.contentType: "image/jpeg"],
                                     body: try Self.jpeg("images/Banana/1_100.jpg")) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                let answer = try decoder.decode(Recognition.self, from: Data(buffer: response.body))
                // The fixture weights are random, so the vote is predict's, not necessarily the folder's label.
                #expect(answer.label == expected.label)
                #expect(answer.labels.map(\.label) == expected.labels.map(\.label))
                #expect(answer.labels.map(\.votes) == expected.labels.map(\.votes))
                #expect(answer.labels.map(\.share) == expected.labels.map { Double($0.votes) / 5 })
                #expect(answer.neighbours.map(\.distance) == expected.neighbours.map(\.distance))
                // Paths relative to the run's input folder: no server path leaks.
                #expect(answer.neighbours.first?.path == "Banana/1_100.jpg")
                #expect(answer.neighbours.allSatisfy { !$0.path.hasPrefix("/") && !$0.path.contains("photos") })
                #expect(answer.labels.allSatisfy { !$0.nearestPath.hasPrefix("/") })
                #expect((answer.neighbours.first?.distance ?? 1) < 1e-3)
                let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as? [String: Any]
                let sha = (summary?["weights"] as? [String: Any])?["sha256"] as? String
                #expect(answer.model?.sha256 == sha)
                #expect(answer.model?.architecture == "MobileNetV2 alpha 1.0, 224×224")
                #expect((answer.seconds ?? 0) > 0)
            }
        }
    }

    @Test func multipartFieldPhotoGivesTheSameAnswer() async throws {
        let service = try ServerFixture.service(try await ServerFixture.run())
        let photo = try ServerFixture.bytes("images/Lemon/2_100.jpg")
        var body = ByteBuffer()
        body.writeString("--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n")
        body.writeString("--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"lemon.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
        body.writeBytes(photo)
        body.writeString("\r\n--XyZ--\r\n")
        let form = body
        try await service.makeApplication().test(.router) { client in
            let raw = try await client.execute(uri: "/v1/recognize", method: .post,
                                               headers: [.contentType: "application/octet-stream"], body: ByteBuffer(bytes: photo))
            let uploaded = try await client.execute(uri: "/v1/recognize", method: .post,
                                                    headers: [.contentType: "multipart/form-data; boundary=XyZ"], body: form)
            #expect(raw.status == .ok)
            #expect(uploaded.status == .ok)
            let (a, b) = (try Self.decode(raw.body), try Self.decode(uploaded.body))
            #expect((a["labels"] as? NSArray) == (b["labels"] as? NSArray))
            #expect((a["neighbours"] as? NSArray) == (b["neighbours"] as? NSArray))
            // A form without the field.
            var empty = ByteBuffer()
            empty.writeString("--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ--\r\n")
            let missing = try await client.execute(uri: "/v1/recognize", method: .post,
                                                   headers: [.contentType: "multipart/form-data; boundary=XyZ"], body: empty)
            #expect(missing.status == .badRequest)
            #expect((try Self.decode(missing.body))["error"] as? String != nil)
            // A header name with a byte of 0x80 or above (MultipartKit's parser traps on it): refused, and the
            // service goes on answering.
            for name in ["Cont\u{E9}nt-Disposition", "X-\u{1F34B}"] {
                var hostile = ByteBuffer()
                hostile.writeString("--XyZ\r\nContent-Type: image/jpeg\r\n\(name): form-data; name=\"photo\"\r\n\r\n")
                hostile.writeBytes(photo)
                hostile.writeString("\r\n--XyZ--\r\n")
                let refused = try await client.execute(uri: "/v1/recognize", method: .post,
                                                       headers: [.contentType: "multipart/form-data; boundary=XyZ"], body: hostile)
                #expect(refused.status == .badRequest, "\(name)")
            }
            let again = try await client.execute(uri: "/v1/recognize", method: .post,
                                                 headers: [.contentType: "multipart/form-data; boundary=XyZ"], body: form)
            #expect(again.status == .ok)
            // The check itself: ASCII names pass (values may hold any byte), a non-ASCII name in any part does not.
            #expect(RecognitionService.headerNamesAreASCII(in: form, boundary: "XyZ"))
            var valueOnly = ByteBuffer()
            valueOnly.writeString("--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"citr\u{F3}n.jpg\"\r\n\r\nx\r\n--XyZ--\r\n")
            #expect(RecognitionService.headerNamesAreASCII(in: valueOnly, boundary: "XyZ"))
            var second = ByteBuffer()
            second.writeString("--XyZ\r\nA: b\r\n\r\nx\r\n--XyZ\r\nOk: 1\r\nN\u{E9}: 2\r\n\r\ny\r\n--XyZ--\r\n")
            #expect(!RecognitionService.headerNamesAreASCII(in: second, boundary: "XyZ"))
        }
    }

    @Test func hostileBodiesGetTheirStatus() async throws {
        let service = try ServerFixture.service(try await ServerFixture.run()) { $0.maximumBodyBytes = 20_000 }
        try await service.makeApplication().test(.router) { client in
            func post(_ body: ByteBuffer, type: String = "image/jpeg", uri: String = "/v1/recognize") async throws -> (HTTPResponse.Status, String) {
                let response = try await client.execute(uri: uri, method: .post, headers: [.contentType: type], body: body)
                let error = (try? Self.decode(response.body))?["error"] as? String ?? ""
                return (response.status, error)
            }
            let cases: [(String, ByteBuffer, String, HTTPResponse.Status, String)] = [
                ("garbage", try Self.jpeg("resize/bad/random.jpg"), "image/jpeg", .badRequest, "not a JPEG"),
                ("truncated", try Self.jpeg("resize/bad/truncated_half.jpg"), "image/jpeg", .badRequest, "truncated"),
                ("PNG", try Self.jpeg("resize/bad/png_named.jpg"), "image/jpeg", .badRequest, "PNG"),
                ("60000×60000", try Self.jpeg("resize/bad/huge_60000x60000.jpg"), "image/jpeg", .unprocessableContent, "exceeds the limit"),
                ("empty", ByteBuffer(), "image/jpeg", .badRequest, "empty"),
                ("over the limit", ByteBuffer(repeating: 0xFF, count: 20_001), "image/jpeg", .contentTooLarge, "20001 bytes"),
                ("wrong type", try Self.jpeg(), "text/plain", .unsupportedMediaType, "image/jpeg"),
                ("multipart without boundary", try Self.jpeg(), "multipart/form-data", .unsupportedMediaType, "multipart"),
            ]
            for (name, body, type, status, reason) in cases {
                let (got, error) = try await post(body, type: type)
                #expect(got == status, "\(name)")
                #expect(error.contains(reason), "\(name): \(error)")
            }
            // A good photo still gets its answer.
            #expect(try await post(try Self.jpeg()).0 == .ok)
            // Query bounds.
            #expect(try await post(try Self.jpeg(), uri: "/v1/recognize?top=0").0 == .badRequest)
            #expect(try await post(try Self.jpeg(), uri: "/v1/recognize?neighbors=101").0 == .badRequest)
            #expect(try await post(try Self.jpeg(), uri: "/v1/recognize?top=x").0 == .badRequest)
            let narrowed = try await client.execute(uri: "/v1/recognize?top=1&neighbors=3", method: .post,
                                                    headers: [.contentType: "image/jpeg"], body: try Self.jpeg())
            let answer = try Self.decode(narrowed.body)
            #expect((answer["labels"] as? [Any])?.count == 1)
            #expect((answer["neighbours"] as? [Any])?.count == 3)
        }
    }

    @Test func routesAndMethods() async throws {
        let run = try await ServerFixture.run()
        let service = try ServerFixture.service(run)
        try await service.makeApplication().test(.router) { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            let missing = try await client.execute(uri: "/nope", method: .get)
            #expect(missing.status == .notFound)
            #expect((try Self.decode(missing.body))["error"] as? String == "no such route")
            let wrongMethod = try await client.execute(uri: "/v1/recognize", method: .get)
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.headers[.allow] == "POST")
            let model = try await client.execute(uri: "/v1/model", method: .get)
            let description = try Self.decode(model.body)
            #expect(description["rows"] as? Int == 9)
            #expect(description["components"] as? Int == 4)
            let labels = try #require(description["labels"] as? [[String: Any]])
            #expect(labels.map { $0["label"] as? String } == ["Apple", "Banana", "Lemon"])
            #expect(labels.map { $0["count"] as? Int } == [3, 3, 3])
            #expect(description["weights_file"] as? String == "mobilenet_v2_1.0_224_random.h5")
            // `made`: when the run's summary.json was written, to the second.
            let summaryFile = try ExtractionRun(directory: URL(fileURLWithPath: run)).summaryFile.path
            let written = try #require(try FileManager.default.attributesOfItem(atPath: summaryFile)[.modificationDate] as? Date)
            let made = try #require((description["made"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(made.timeIntervalSince(written)) < 1, "made \(made), summary.json written \(written)")
            let page = try await client.execute(uri: "/", method: .get)
            let html = String(buffer: page.body)
            #expect(html.contains(#"<input id="photo" type="file" accept="image/*" capture="environment">"#))
            #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            let openapi = try await client.execute(uri: "/openapi.json", method: .get)
            let document = try Self.decode(openapi.body)
            #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
            _ = try await client.execute(uri: "/v1/recognize", method: .post, headers: [.contentType: "image/jpeg"], body: try Self.jpeg())
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"fruitfeatures_http_requests_total{route="/v1/recognize",status="200"} 1"#))
            #expect(metrics.contains(#"fruitfeatures_http_requests_total{route="unmatched",status="404"} 1"#))
            #expect(metrics.contains("fruitfeatures_images_recognised_total 1"))
            #expect(metrics.contains("fruitfeatures_http_request_duration_seconds_bucket"))
            #expect(metrics.contains("fruitfeatures_queue_depth 0"))
        }
    }

    @Test func notReadyWithoutAModel() async throws {
        var settings = ServerSettings(modelDirectory: "/nonexistent")
        settings.concurrency = 1
        let service = RecognitionService(settings: settings, store: ModelStore())
        try await service.makeApplication().test(.router) { client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.headers[.retryAfter] == "1")
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            let answer = try await client.execute(uri: "/v1/recognize", method: .post, headers: [.contentType: "image/jpeg"],
                                                  body: try Self.jpeg())
            #expect(answer.status == .serviceUnavailable)
        }
    }

    @Test func apiKeyGuardsEveryV1Route() async throws {
        let service = try ServerFixture.service(try await ServerFixture.run()) { $0.apiKey = "s3cret-key" }
        try await service.makeApplication().test(.router) { client in
            for (header, status) in [(nil, HTTPResponse.Status.unauthorized), ("Bearer wrong-key", .unauthorized),
                                     ("Bearer s3cret-ke", .unauthorized), ("Bearer s3cret-keyy", .unauthorized),
                                     ("Basic s3cret-key", .unauthorized), ("Bearer s3cret-key", .ok)] {
                var headers: HTTPFields = [.contentType: "image/jpeg"]
                if let header { headers[.authorization] = header }
                let answer = try await client.execute(uri: "/v1/recognize", method: .post, headers: headers, body: try Self.jpeg())
                #expect(answer.status == status, "\(header ?? "no header")")
                if status == .unauthorized { #expect(answer.headers[.wwwAuthenticate] == "Bearer") }
                let model = try await client.execute(uri: "/v1/model", method: .get, headers: headers)
                #expect(model.status == status)
            }
            // Outside /v1/ no key is needed (probes, the page, metrics).
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/", method: .get).status == .ok)
        }
        #expect(APIKey("abc").accepts(authorization: "bearer abc"))
        #expect(!APIKey("abc").accepts(authorization: "Bearer "))
    }

    @Test func corsOnlyWithAnAllowedOrigin() async throws {
        let run = try await ServerFixture.run()
        let closed = try ServerFixture.service(run)
        try await closed.makeApplication().test(.router) { client in
            let answer = try await client.execute(uri: "/v1/model", method: .get, headers: [.origin: "https://app.example"])
            #expect(answer.headers[.accessControlAllowOrigin] == nil)
        }
        let open = try ServerFixture.service(run) { $0.allowedOrigin = "https://app.example" }
        try await open.makeApplication().test(.router) { client in
            let answer = try await client.execute(uri: "/v1/model", method: .get, headers: [.origin: "https://app.example"])
            #expect(answer.headers[.accessControlAllowOrigin] == "https://app.example")
            let preflight = try await client.execute(uri: "/v1/recognize", method: .options, headers: [
                .origin: "https://app.example", .accessControlRequestMethod: "POST"])
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example")
        }
    }

    @Test func reloadSwapsToAnotherRunAndKeepsTheOldOneOnFailure() async throws {
        let first = try await ServerFixture.run()
        let second = try await ServerFixture.extract(renaming: ["Apple": "Apfel"])
        let link = try ServerFixture.scratchPath("server-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: first)
        let service = try ServerFixture.service(link)
        try await service.makeApplication().test(.router) { client in
            func label() async throws -> String? {
                let answer = try await client.execute(uri: "/v1/recognize", method: .post, headers: [.contentType: "image/jpeg"],
                                                      body: try Self.jpeg())
                return ((try Self.decode(answer.body))["labels"] as? [[String: Any]])?.first?["label"] as? String
            }
            #expect(try await label() == "Apple")
            try FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: second)
            #expect(await service.reload())
            #expect(try await label() == "Apfel")
            // A folder that is not a run: the reload fails and the service goes on with the model it has.
            try FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/nonexistent")
            #expect(await service.reload() == false)
            #expect(try await label() == "Apfel")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"fruitfeatures_model_reloads_total{result="success"} 1"#))
            #expect(metrics.contains(#"fruitfeatures_model_reloads_total{result="failure"} 1"#))
        }
    }
}

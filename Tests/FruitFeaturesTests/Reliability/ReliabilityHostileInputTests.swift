import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// `extract` over a tree mixing good photos with every kind of hostile input (see ``HostileCorpus``).
@Suite struct ReliabilityHostileInputTests {
    /// As root, permissions do not stop reads: run the command as `nobody` when `setpriv` allows it.
    static let unprivilegedPrefix: [String]? = {
        guard geteuid() == 0 else { return [] }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return nil }
        return ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    }()

    @Test func everyGoodImageHasFeaturesAndEveryBadOneAReason() throws {
        let scratch = try makeScratchFolder("ff-hostile")
        chmod(scratch, 0o777)
        let prefix = Self.unprivilegedPrefix ?? []
        let corpus = try HostileCorpus(at: scratch + "/tree", permissionsEnforced: Self.unprivilegedPrefix != nil)
        let output = scratch + "/out"

        let run = try Reliability.extract(corpus.root, output, ["--jobs", "2", "--batch-size", "5"], prefix: prefix)
        #expect(run.status == 0, "\(run.standardError)")
        // The corpus files one good photo under several labels: the only message is that warning.
        #expect(run.standardError.split(separator: "\n").allSatisfy { $0.hasPrefix("fruitfeatures: warning: ") && $0.contains("label conflicts") },
                "\(run.standardError)")
        // A runaway guard, far above a normal run (~100 MiB); decoding the 60000×60000 header would take 10 GiB.
        #expect(run.maximumResidentKiB < 1 << 20, "peak memory \(run.maximumResidentKiB) KiB")
        #expect(Reliability.listing(output) == ["duplicates.csv", "errors.csv", "features.csv", "features.parquet", "pca.h5",
                                                "raw_features.parquet", "summary.json"])

        let errors = try CSVTable.read(output + "/errors.csv")
        let features = try CSVTable.read(output + "/features.csv")
        #expect(errors.first == ["path", "reason"])
        #expect(features.first?.prefix(3) == ["path", "label", "feature_0"])
        #expect(errors.dropFirst().allSatisfy { $0.count == 2 })
        #expect(features.dropFirst().allSatisfy { $0.count == 2 + 6 && $0[2...].allSatisfy { Float($0)?.isFinite == true } })
        let failed = Dictionary(errors.dropFirst().map { ($0[0], $0[1]) }, uniquingKeysWith: { first, _ in first })
        let labelled = Dictionary(features.dropFirst().map { ($0[0], $0[1]) }, uniquingKeysWith: { first, _ in first })
        #expect(failed.count == errors.count - 1, "a path is listed twice in errors.csv")
        #expect(labelled.count == features.count - 1, "a path is listed twice in features.csv")

        var either = 0
        for entry in corpus.entries {
            let name = entry.path.dropFirst(corpus.root.count)
            switch entry.expected {
            case .features(let label):
                #expect(labelled[entry.path] == label, "\(name): \(failed[entry.path] ?? "no features")")
            case .failure(let check):
                if let reason = failed[entry.path] {
                    #expect(check.accepts(reason), "\(name): '\(reason)', expected \(check)")
                } else {
                    Issue.record("\(name) is not in errors.csv")
                }
                #expect(labelled[entry.path] == nil)
            case .either:
                either += 1
                #expect((labelled[entry.path] != nil) != (failed[entry.path] != nil), "\(name) must be in exactly one file")
                if let reason = failed[entry.path] {
                    #expect(HostileCorpus.check(forGoldenExpectation: "corrupt").accepts(reason)
                            || HostileCorpus.check(forGoldenExpectation: "truncated").accepts(reason)
                            || reason.hasPrefix("unsupported JPEG: ") || reason.hasPrefix("image of "),
                            "\(name): '\(reason)'")
                }
            case .unlisted:
                #expect(labelled[entry.path] == nil && failed[entry.path] == nil, "\(name) should not be listed")
            }
        }
        // Nothing else was listed.
        let known = Set(corpus.entries.map(\.path))
        #expect(Set(labelled.keys).subtracting(known).isEmpty, "\(Set(labelled.keys).subtracting(known))")
        #expect(Set(failed.keys).subtracting(known).isEmpty, "\(Set(failed.keys).subtracting(known))")
        #expect(either > 10)
        #expect(corpus.expectedFeatures.count > 30)

        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let summary = try decoder.decode(ExtractionSummary.self, from: Data(contentsOf: URL(fileURLWithPath: output + "/summary.json")))
        #expect(summary.images.found == labelled.count + failed.count)
        #expect(summary.images.processed == labelled.count && summary.images.failed == failed.count)
        // One network pass per distinct content: files with the same bytes share one.
        let hashes = try ParquetFileReader(path: output + "/raw_features.parquet").strings("sha256")
        #expect(summary.images.networkPasses == Set(hashes).count)

        // The hostile entries change nothing for the good ones: without them, the same bytes come out.
        corpus.removeEntries(Set(failed.keys))
        let clean = scratch + "/clean"
        let cleanRun = try Reliability.extract(corpus.root, clean, ["--jobs", "1", "--batch-size", "16"], prefix: prefix)
        #expect(cleanRun.status == 0, "\(cleanRun.standardError)")
        #expect(try String(contentsOfFile: clean + "/errors.csv", encoding: .utf8) == "path,reason\n")
        for name in ["features.csv", "features.parquet", "raw_features.parquet"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: output + "/" + name))
                    == Data(contentsOf: URL(fileURLWithPath: clean + "/" + name)), "\(name) differs")
        }
        #expect(try Reliability.samePCAModel(output + "/pca.h5", clean + "/pca.h5"))
    }

    @Test func csvReaderHandlesQuotedFields() {
        #expect(CSVTable.parse("a,b\n\"x, \"\"y\"\"\nz\",2\n") == [["a", "b"], ["x, \"y\"\nz", "2"]])
        #expect(CSVTable.parse("a,\"b\"c\n") == nil)
        #expect(CSVTable.parse("a,\"b\n") == nil)
        #expect(CSVTable.parse("a,b") == nil)
    }
}

import Foundation
import Testing
@testable import FruitFeatures

/// Our own JSON files read back as untrusted input (Docs/reliability.md, "Our own files").
@Suite struct ReliabilityOwnFilesTests {
    /// One hand edit of evaluation.json: a change to the decoded JSON object.
    struct Edit: Sendable {
        var name: String
        var change: @Sendable (inout [String: Any]) -> Void
    }

    static func report(_ root: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
        var report = root["report"] as? [String: Any] ?? [:]
        change(&report)
        root["report"] = report
    }

    static let edits: [Edit] = [
        Edit(name: "fewer matrix rows than labels") { root in
            report(&root) { $0["confusion_matrix"] = Array(($0["confusion_matrix"] as? [[Int]] ?? []).prefix(1)) }
        },
        Edit(name: "a row shorter than the labels") { root in
            report(&root) { report in
                var matrix = report["confusion_matrix"] as? [[Int]] ?? []
                matrix[matrix.count - 1].removeLast()
                report["confusion_matrix"] = matrix
            }
        },
        Edit(name: "counts near 2^63") { root in
            report(&root) { report in
                let matrix = report["confusion_matrix"] as? [[Int]] ?? []
                report["confusion_matrix"] = matrix.map { $0.map { _ in Int.max - 1 } }
                report["sample_count"] = Int.max
            }
            root["row_count"] = Int.max
        },
        Edit(name: "row count at the bottom of Int") { root in root["row_count"] = Int.min },
        Edit(name: "a negative count") { root in
            report(&root) { report in
                var matrix = report["confusion_matrix"] as? [[Int]] ?? []
                matrix[0][1] = -5
                report["confusion_matrix"] = matrix
            }
        },
        Edit(name: "fewer per-label scores than labels") { root in
            report(&root) { $0["per_label"] = Array(($0["per_label"] as? [Any] ?? []).dropLast()) }
        },
        Edit(name: "an accuracy beyond 1") { root in report(&root) { $0["accuracy"] = 1e300 } },
        Edit(name: "a negative fold accuracy") { root in root["fold_accuracies"] = [-0.5, 1, 1] },
        Edit(name: "no labels") { root in
            report(&root) {
                $0["labels"] = [String]()
                $0["confusion_matrix"] = [[Int]]()
                $0["per_label"] = [Any]()
            }
        },
    ]

    @Test func aHandEditedEvaluationIsAClearErrorNeverACrash() async throws {
        let run = try await AnalysisFixture.extract(componentCount: 3)
        let out = run.directory.path
        let evaluate = try CommandRunner.run(["evaluate", out, "--folds", "3"])
        #expect(evaluate.status == 0, "\(evaluate.standardError)")
        let file = out + "/evaluation.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(try SpawnedCommand(["report", out]).finish().status == 0)

        for edit in Self.edits {
            var root = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            edit.change(&root)
            try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]).write(to: URL(fileURLWithPath: file))
            let exit = try SpawnedCommand(["report", out]).finish()
            #expect(exit.signal == nil, "\(edit.name): killed by signal \(exit.signal ?? 0)")
            #expect(exit.status == 1, "\(edit.name): \(exit.standardError)")
            #expect(exit.standardError.hasPrefix("fruitfeatures: error: \(file): not a valid evaluation ("),
                    "\(edit.name): \(exit.standardError)")
            #expect(exit.standardError.hasSuffix("run fruitfeatures evaluate again\n"), "\(edit.name): \(exit.standardError)")
            // The library says the same without the command.
            #expect(throws: AnalysisError.self, "\(edit.name)") { try Evaluation(contentsOf: URL(fileURLWithPath: file)) }
        }
        // The file as evaluate wrote it passes the same checks.
        try original.write(to: URL(fileURLWithPath: file))
        #expect(try Evaluation(contentsOf: URL(fileURLWithPath: file)).inconsistency == nil)
        #expect(try SpawnedCommand(["report", out]).finish().status == 0)
    }
}

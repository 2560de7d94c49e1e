import Foundation
import Testing
@testable import FruitFeatures

/// The plain reference the classifier must agree with: every distance in Double, sorted by (distance, row),
/// votes counted, ties to the label met first in neighbour order.
enum BruteForceNeighbours {
    static func distance(_ a: ArraySlice<Float>, _ b: [Float]) -> Double {
        var sum = 0.0
        for (x, y) in zip(a, b) {
            let difference = Double(x) - Double(y)
            sum += difference * difference
        }
        return sum.squareRoot()
    }

    static func neighbours(_ table: FeatureTable, _ query: [Float], k: Int) -> [(row: Int, distance: Double)] {
        let all = (0..<table.rowCount).map { (row: $0, distance: distance(table.features(ofRow: $0), query)) }
        return Array(all.sorted { $0.distance != $1.distance ? $0.distance < $1.distance : $0.row < $1.row }.prefix(k))
    }

    static func vote(_ labels: [String]) -> String {
        var counts: [String: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        let best = counts.values.max() ?? 0
        return labels.first { counts[$0] == best } ?? ""
    }
}

@Suite struct AnalysisNearestNeighbourTests {
    @Test func simdDistanceMatchesThePlainLoop() {
        var generator = SeededGenerator(seed: 5)
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 200, 1280] {
            let a = (0..<count).map { _ in Float(generator.normal()) }
            let b = (0..<count).map { _ in Float(generator.normal()) }
            var reference = 0.0
            for i in 0..<count { reference += Double(a[i] - b[i]) * Double(a[i] - b[i]) }
            let fast = a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    count == 0 ? 0 : squaredEuclideanDistance(a.baseAddress!, b.baseAddress!, count: count)
                }
            }
            // Float sums of `count` positive terms in another order: within a few float ulps per term.
            #expect(abs(Double(fast) - reference) <= reference * 1e-6 * Double(max(count, 1)).squareRoot() + 1e-30,
                    "count \(count): \(fast) vs \(reference)")
        }
    }

    /// Random clustered rows with exact duplicates (to exercise ties by row index).
    static func randomTable(seed: UInt64, rows: Int, featureCount: Int, labels: [String]) throws -> FeatureTable {
        var generator = SeededGenerator(seed: seed)
        var values: [Float] = []
        var rowLabels: [String] = []
        for row in 0..<rows {
            if row % 10 == 9 {
                // Duplicate an earlier row's features with another label: equal distances, different rows.
                let source = Int(generator.next() % UInt64(row))
                values.append(contentsOf: values[(source * featureCount)..<((source + 1) * featureCount)])
            } else {
                values.append(contentsOf: (0..<featureCount).map { _ in Float(generator.normal() * 2) })
            }
            rowLabels.append(labels[Int(generator.next() % UInt64(labels.count))])
        }
        return try FeatureTable(paths: (0..<rows).map { "img\($0).jpg" }, labels: rowLabels, featureCount: featureCount, values: values)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 9, 200])
    func agreesWithBruteForce(k: Int) throws {
        let labels = ["a", "b", "c", "d"]
        let table = try Self.randomTable(seed: UInt64(k), rows: 150, featureCount: 19, labels: labels)
        let classifier = try NearestNeighbourClassifier(training: table, neighbourCount: k)
        var generator = SeededGenerator(seed: 99)
        // More than one block of 64 queries for predictedLabels, the last one partial.
        var queries: [[Float]] = (0..<150).map { _ in (0..<19).map { _ in Float(generator.normal() * 2) } }
        // Queries equal to duplicated rows: distance 0 to two rows at once.
        queries.append(Array(table.features(ofRow: 9)))
        queries.append(Array(table.features(ofRow: 19)))
        for query in queries {
            let expected = BruteForceNeighbours.neighbours(table, query, k: k)
            let prediction = try classifier.prediction(for: query)
            #expect(prediction.neighbours.map(\.row) == expected.map(\.row))
            for (found, reference) in zip(prediction.neighbours, expected) {
                #expect(abs(Double(found.distance) - reference.distance) <= 1e-5 * max(reference.distance, 1))
                #expect(found.label == table.labels[found.row])
                #expect(found.path == table.paths[found.row])
            }
            let expectedLabel = BruteForceNeighbours.vote(expected.map { table.labels[$0.row] })
            #expect(prediction.label == expectedLabel)
            #expect(try classifier.neighbours(of: query) == prediction.neighbours)
            // The ranking: every label once; votes as counted; nearest distance per label as brute force finds it.
            #expect(Set(prediction.ranking.map(\.label)) == Set(labels))
            for score in prediction.ranking {
                #expect(score.votes == expected.filter { table.labels[$0.row] == score.label }.count)
                let nearest = (0..<table.rowCount).filter { table.labels[$0] == score.label }
                    .map { BruteForceNeighbours.distance(table.features(ofRow: $0), query) }.min() ?? .infinity
                #expect(abs(Double(score.nearestDistance) - nearest) <= 1e-5 * max(nearest, 1))
            }
            for (a, b) in zip(prediction.ranking, prediction.ranking.dropFirst()) {
                #expect(a.votes > b.votes || (a.votes == b.votes && a.nearestDistance <= b.nearestDistance))
            }
        }
        let batch = try classifier.predictedLabels(for: try FeatureTable(
            paths: queries.indices.map { "q\($0)" }, labels: queries.map { _ in "?" }, featureCount: 19, values: queries.flatMap { $0 }))
        #expect(batch == (try queries.map { try classifier.prediction(for: $0).label }))
    }

    @Test func tiesAtEqualDistanceGoToTheEarlierRow() throws {
        // Four rows at the same distance 1 from the origin; the query is the origin.
        let table = try FeatureTable(paths: ["p0", "p1", "p2", "p3"], labels: ["b", "a", "a", "b"], featureCount: 2,
                                     values: [1, 0, 0, 1, -1, 0, 0, -1])
        let two = try NearestNeighbourClassifier(training: table, neighbourCount: 2).prediction(for: [0, 0])
        #expect(two.neighbours.map(\.row) == [0, 1])
        // One vote each: the tie goes to the label of the nearer (here: earlier) neighbour.
        #expect(two.label == "b")
        let four = try NearestNeighbourClassifier(training: table, neighbourCount: 4).prediction(for: [0, 0])
        #expect(four.neighbours.map(\.row) == [0, 1, 2, 3])
        #expect(four.label == "b")
        #expect(four.ranking.map(\.label) == ["b", "a"])
        #expect(four.ranking.map(\.nearestPath) == ["p0", "p1"])
    }

    @Test func matchesScikitLearnNeighboursOnTheGoldenTable() throws {
        let table = try FeatureTable(contentsOfCSV: AnalysisFixture.golden.appendingPathComponent("knn/features.csv"))
        let golden = try KNNGolden.load()
        let classifier = try NearestNeighbourClassifier(training: table, neighbourCount: golden.neighbourCount)
        for query in golden.queries {
            let prediction = try classifier.prediction(for: query.features.map { Float($0) })
            #expect(prediction.neighbours.map(\.row) == query.neighbourRows)
            for (found, expected) in zip(prediction.neighbours, query.neighbourDistances) {
                #expect(abs(Double(found.distance) - expected) <= 1e-5 * expected)
            }
            #expect(prediction.ranking.map(\.label) == query.ranking.map(\.label))
            #expect(prediction.ranking.map(\.votes) == query.ranking.map(\.votes))
            for (found, expected) in zip(prediction.ranking, query.ranking) {
                #expect(abs(Double(found.nearestDistance) - expected.nearestDistance) <= 1e-5 * expected.nearestDistance)
            }
            let top = try classifier.prediction(for: query.features.map { Float($0) }, labelCount: 2)
            #expect(top.ranking == Array(prediction.ranking.prefix(2)))
        }
    }

    @Test func fewerRowsThanNeighboursUsesThemAll() throws {
        let table = try FeatureTable(paths: ["a", "b"], labels: ["x", "y"], featureCount: 1, values: [0, 10])
        let prediction = try NearestNeighbourClassifier(training: table, neighbourCount: 5).prediction(for: [4])
        #expect(prediction.neighbours.map(\.row) == [0, 1])
        #expect(prediction.neighbours.map(\.distance) == [4, 6])
        #expect(prediction.label == "x")
    }

    @Test func rejectsBadArguments() throws {
        let table = try FeatureTable(paths: ["a"], labels: ["x"], featureCount: 2, values: [0, 1])
        #expect(throws: AnalysisError.self) { try NearestNeighbourClassifier(training: table, neighbourCount: 0) }
        let empty = try FeatureTable(paths: [], labels: [], featureCount: 2, values: [])
        #expect(throws: AnalysisError.self) { try NearestNeighbourClassifier(training: empty) }
        let classifier = try NearestNeighbourClassifier(training: table)
        #expect(throws: AnalysisError.self) { try classifier.prediction(for: [1]) }
        #expect(throws: AnalysisError.self) { try classifier.prediction(for: [1, .nan]) }
        #expect(throws: AnalysisError.self) {
            try classifier.predictedLabels(for: try FeatureTable(paths: ["q"], labels: ["?"], featureCount: 1, values: [0]))
        }
    }
}

/// Fixtures/golden/analysis/knn/golden.json, written by Scripts/make_analysis_golden.py.
struct KNNGolden: Decodable {
    struct Query: Decodable {
        struct Score: Decodable {
            var label: String
            var votes: Int
            var nearestDistance: Double
        }
        var features: [Double]
        var neighbourRows: [Int]
        var neighbourDistances: [Double]
        var ranking: [Score]
    }

    struct Scores: Decodable {
        struct Averages: Decodable {
            var precision: Double
            var recall: Double
            var f1: Double
        }
        var labels: [String]
        var accuracy: Double
        var precision: [Double]
        var recall: [Double]
        var f1: [Double]
        var support: [Int]
        var confusionMatrix: [[Int]]
        var macro: Averages
        var weighted: Averages
    }

    var neighbourCount: Int
    var foldCount: Int
    var foldAssignment: [Int]
    var predictions: [String]
    var sklearnKnnPredictions: [String]
    var tiedVotes: Int
    var sklearn: Scores
    var queries: [Query]

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    static func load() throws -> KNNGolden {
        try decoder().decode(KNNGolden.self, from: Data(contentsOf: AnalysisFixture.golden.appendingPathComponent("knn/golden.json")))
    }
}

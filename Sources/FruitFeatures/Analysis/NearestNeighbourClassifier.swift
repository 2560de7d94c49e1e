import Foundation

/// A training row found near a query.
public struct Neighbour: Sendable, Equatable, Codable {
    /// The row's index in the training table.
    public var row: Int
    /// The row's image path.
    public var path: String
    /// The row's label.
    public var label: String
    /// The Euclidean distance from the query.
    public var distance: Float

    /// Creates a neighbour.
    public init(row: Int, path: String, label: String, distance: Float) {
        self.row = row
        self.path = path
        self.label = label
        self.distance = distance
    }
}

/// How strongly the neighbours of a query point at one label.
public struct LabelScore: Sendable, Equatable, Codable {
    /// The label.
    public var label: String
    /// How many of the k nearest neighbours have this label.
    public var votes: Int
    /// The distance from the query to the nearest training row with this label.
    public var nearestDistance: Float
    /// The image path of that nearest row.
    public var nearestPath: String

    /// Creates a score.
    public init(label: String, votes: Int, nearestDistance: Float, nearestPath: String) {
        self.label = label
        self.votes = votes
        self.nearestDistance = nearestDistance
        self.nearestPath = nearestPath
    }
}

/// The answer of a nearest-neighbour classifier for one query.
public struct LabelPrediction: Sendable, Equatable, Codable {
    /// Labels from most to least likely (see ``NearestNeighbourClassifier`` for the order); never empty.
    public var ranking: [LabelScore]
    /// The k nearest training rows, nearest first.
    public var neighbours: [Neighbour]

    /// The predicted label: the first of ``ranking``.
    public var label: String { ranking.first?.label ?? "" }

    /// Creates a prediction.
    public init(ranking: [LabelScore], neighbours: [Neighbour]) {
        self.ranking = ranking
        self.neighbours = neighbours
    }
}

/// k-nearest-neighbour classification by Euclidean distance, by exhaustive search over a training table.
///
/// Every rule is deterministic:
/// - neighbours are ordered by distance, and rows at equal distance by their index in the training table;
/// - labels are ranked by votes among the k nearest neighbours (most first), then by the distance to their nearest
///   training row (nearest first, then lower row index): a tie in votes goes to the label met first in neighbour
///   order;
/// - when the training table has fewer than k rows, all of them are the neighbours.
///
/// Exhaustive search costs `rowCount × featureCount` multiply-adds per query: about a millisecond for
/// 10 000 rows of 200 PCA features.
public struct NearestNeighbourClassifier: Sendable {
    /// The labelled rows queries are compared with.
    public let training: FeatureTable
    /// k: how many neighbours vote.
    public let neighbourCount: Int
    /// The distinct training labels, sorted.
    public let labels: [String]
    /// Each training row's index into ``labels``.
    private let labelIndices: [Int]

    /// Creates a classifier over `training` in which the `neighbourCount` nearest rows vote.
    ///
    /// - Throws: ``AnalysisError`` when `neighbourCount` is below 1 (``AnalysisError/Kind/invalidArgument``) or the
    ///   table has no rows (``AnalysisError/Kind/insufficientData``).
    public init(training: FeatureTable, neighbourCount: Int = 5) throws(AnalysisError) {
        guard neighbourCount >= 1 else {
            throw AnalysisError(.invalidArgument, reason: "the number of neighbours must be at least 1, not \(neighbourCount)")
        }
        guard training.rowCount >= 1 else {
            throw AnalysisError(.insufficientData, reason: "a nearest-neighbour classifier needs at least one labelled row")
        }
        self.training = training
        self.neighbourCount = neighbourCount
        labels = training.distinctLabels
        var index: [String: Int] = [:]
        for (position, label) in labels.enumerated() { index[label] = position }
        labelIndices = training.labels.map { index[$0] ?? 0 }
    }

    /// Classifies one feature vector: every label ranked, and the k nearest rows.
    ///
    /// - Parameters:
    ///   - features: ``FeatureTable/featureCount`` finite values.
    ///   - labelCount: how many labels to keep in the ranking (all by default).
    /// - Throws: ``AnalysisError/Kind/invalidArgument`` for a wrong length or a non-finite value.
    public func prediction(for features: [Float], labelCount: Int? = nil) throws(AnalysisError) -> LabelPrediction {
        try check(features)
        let found = features.withUnsafeBufferPointer { query in search(query.baseAddress, perLabel: true) }
        var ranking = rankedLabels(found)
        if let labelCount { ranking = Array(ranking.prefix(max(labelCount, 1))) }
        let neighbours = zip(found.rows, found.distances).map { row, distance in
            Neighbour(row: row, path: training.paths[row], label: training.labels[row], distance: distance)
        }
        return LabelPrediction(ranking: ranking, neighbours: neighbours)
    }

    /// The k nearest training rows of one feature vector, nearest first.
    public func neighbours(of features: [Float]) throws(AnalysisError) -> [Neighbour] {
        try check(features)
        let found = features.withUnsafeBufferPointer { query in search(query.baseAddress, perLabel: false) }
        return zip(found.rows, found.distances).map { row, distance in
            Neighbour(row: row, path: training.paths[row], label: training.labels[row], distance: distance)
        }
    }

    /// The predicted label of every row of `queries`, computed on all cores.
    ///
    /// - Throws: ``AnalysisError/Kind/invalidArgument`` when the feature counts differ.
    public func predictedLabels(for queries: FeatureTable) throws(AnalysisError) -> [String] {
        guard queries.featureCount == training.featureCount else {
            throw AnalysisError(.invalidArgument,
                                reason: "queries have \(queries.featureCount) features, the training rows \(training.featureCount)")
        }
        let count = queries.rowCount
        var predicted = [Int](repeating: 0, count: count)
        let chunk = 64
        let chunks = (count + chunk - 1) / chunk
        predicted.withUnsafeMutableBufferPointer { output in
            nonisolated(unsafe) let output = output
            queries.values.withUnsafeBufferPointer { values in
                nonisolated(unsafe) let values = values
                DispatchQueue.concurrentPerform(iterations: chunks) { part in
                    let featureCount = queries.featureCount
                    for row in (part * chunk)..<min(count, (part + 1) * chunk) {
                        let result = search(values.baseAddress.map { $0 + row * featureCount }, perLabel: false)
                        output[row] = votedLabel(result)
                    }
                }
            }
        }
        return predicted.map { labels[$0] }
    }

    // MARK: - Search

    /// The outcome of one exhaustive search.
    private struct SearchResult {
        /// The k nearest rows, nearest first, and their distances.
        var rows: [Int]
        var distances: [Float]
        /// Per label: the nearest row and its squared distance (only when asked for).
        var nearestRowPerLabel: [Int]
        var nearestSquaredDistancePerLabel: [Float]
    }

    private func check(_ features: [Float]) throws(AnalysisError) {
        guard features.count == training.featureCount else {
            throw AnalysisError(.invalidArgument,
                                reason: "a query has \(features.count) features, the training rows \(training.featureCount)")
        }
        if let bad = features.firstIndex(where: { !$0.isFinite }) {
            throw AnalysisError(.invalidArgument, reason: "query feature \(bad) is not a finite number")
        }
    }

    /// Scans every training row once: the k nearest (ties to the lower row index) and, optionally, each label's nearest.
    private func search(_ query: UnsafePointer<Float>?, perLabel: Bool) -> SearchResult {
        let k = min(neighbourCount, training.rowCount)
        let d = training.featureCount
        var bestRows = [Int](repeating: -1, count: k)
        var bestSquared = [Float](repeating: .infinity, count: k)
        var filled = 0
        var labelRow = [Int](repeating: -1, count: perLabel ? labels.count : 0)
        var labelSquared = [Float](repeating: .infinity, count: perLabel ? labels.count : 0)
        guard let query else {
            return SearchResult(rows: [], distances: [], nearestRowPerLabel: labelRow, nearestSquaredDistancePerLabel: labelSquared)
        }
        training.values.withUnsafeBufferPointer { values in
            guard let base = values.baseAddress else { return }
            for row in 0..<training.rowCount {
                let squared = squaredEuclideanDistance(query, base + row * d, count: d)
                if perLabel {
                    let label = labelIndices[row]
                    // Strictly nearer only: rows are scanned in order, so the lower index wins a tie.
                    if squared < labelSquared[label] || labelRow[label] < 0 {
                        labelSquared[label] = squared
                        labelRow[label] = row
                    }
                }
                if filled < k || squared < bestSquared[k - 1] {
                    // Insert after every kept row at the same distance: those have lower indices.
                    var position = min(filled, k - 1)
                    while position > 0 && bestSquared[position - 1] > squared {
                        bestSquared[position] = bestSquared[position - 1]
                        bestRows[position] = bestRows[position - 1]
                        position -= 1
                    }
                    bestSquared[position] = squared
                    bestRows[position] = row
                    filled = min(filled + 1, k)
                }
            }
        }
        return SearchResult(rows: bestRows, distances: bestSquared.map { $0.squareRoot() },
                            nearestRowPerLabel: labelRow, nearestSquaredDistancePerLabel: labelSquared)
    }

    /// The label with the most votes; a tie goes to the label whose first vote comes from the nearer neighbour.
    private func votedLabel(_ result: SearchResult) -> Int {
        var votes = [Int](repeating: 0, count: labels.count)
        var firstSeen = [Int](repeating: Int.max, count: labels.count)
        for (position, row) in result.rows.enumerated() {
            let label = labelIndices[row]
            votes[label] += 1
            firstSeen[label] = min(firstSeen[label], position)
        }
        var best = labelIndices[result.rows[0]]
        for label in 0..<labels.count where votes[label] > votes[best]
            || (votes[label] == votes[best] && firstSeen[label] < firstSeen[best]) {
            best = label
        }
        return best
    }

    /// Every label, ranked by votes, then nearest distance, then name.
    private func rankedLabels(_ result: SearchResult) -> [LabelScore] {
        var votes = [Int](repeating: 0, count: labels.count)
        for row in result.rows { votes[labelIndices[row]] += 1 }
        let order = (0..<labels.count).sorted { a, b in
            if votes[a] != votes[b] { return votes[a] > votes[b] }
            let (da, db) = (result.nearestSquaredDistancePerLabel[a], result.nearestSquaredDistancePerLabel[b])
            if da != db { return da < db }
            // Equal distances: the label whose nearest row comes first in the table, as in neighbour order.
            return result.nearestRowPerLabel[a] < result.nearestRowPerLabel[b]
        }
        return order.map { label in
            let row = result.nearestRowPerLabel[label]
            return LabelScore(label: labels[label], votes: votes[label],
                              nearestDistance: result.nearestSquaredDistancePerLabel[label].squareRoot(),
                              nearestPath: row >= 0 ? training.paths[row] : "")
        }
    }
}

/// The squared Euclidean distance of two vectors of `count` floats: Σ (a[i] − b[i])².
///
/// Eight-lane SIMD with two accumulators; the plain loop it must agree with is in the tests
/// (AnalysisNearestNeighbourTests). // a: (count), b: (count)
@inline(__always)
func squaredEuclideanDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var sum0 = SIMD8<Float>()
    var sum1 = SIMD8<Float>()
    let rawA = UnsafeRawPointer(a)
    let rawB = UnsafeRawPointer(b)
    var index = 0
    let stride = MemoryLayout<Float>.stride
    while index + 16 <= count {
        let d0 = rawA.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Float>.self)
            - rawB.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Float>.self)
        let d1 = rawA.loadUnaligned(fromByteOffset: (index + 8) * stride, as: SIMD8<Float>.self)
            - rawB.loadUnaligned(fromByteOffset: (index + 8) * stride, as: SIMD8<Float>.self)
        sum0 = sum0.addingProduct(d0, d0)
        sum1 = sum1.addingProduct(d1, d1)
        index += 16
    }
    if index + 8 <= count {
        let d0 = rawA.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Float>.self)
            - rawB.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Float>.self)
        sum0 = sum0.addingProduct(d0, d0)
        index += 8
    }
    var total = (sum0 + sum1).sum()
    while index < count {
        let difference = a[index] - b[index]
        total += difference * difference
        index += 1
    }
    return total
}

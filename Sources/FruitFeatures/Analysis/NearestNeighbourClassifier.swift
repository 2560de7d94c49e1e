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
    /// ``votes`` as a share of the neighbours that voted (0…1), what a bar chart of the answer shows.
    public var share: Double

    /// Creates a score; `share` is `votes / voterCount` (0 when `voterCount` is 0).
    public init(label: String, votes: Int, nearestDistance: Float, nearestPath: String, voterCount: Int) {
        self.init(label: label, votes: votes, nearestDistance: nearestDistance, nearestPath: nearestPath,
                  share: voterCount > 0 ? Double(votes) / Double(voterCount) : 0)
    }

    /// Creates a score with its share given.
    public init(label: String, votes: Int, nearestDistance: Float, nearestPath: String, share: Double) {
        self.label = label
        self.votes = votes
        self.nearestDistance = nearestDistance
        self.nearestPath = nearestPath
        self.share = share
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
        let found = try searchOne(features, perLabel: true)
        var ranking = rankedLabels(found)
        if let labelCount { ranking = Array(ranking.prefix(max(labelCount, 1))) }
        return LabelPrediction(ranking: ranking, neighbours: neighbours(in: found))
    }

    /// The k nearest training rows of one feature vector, nearest first.
    public func neighbours(of features: [Float]) throws(AnalysisError) -> [Neighbour] {
        neighbours(in: try searchOne(features, perLabel: false))
    }

    /// Checks one query and searches for it.
    private func searchOne(_ features: [Float], perLabel: Bool) throws(AnalysisError) -> SearchResult {
        try check(features)
        guard let found = features.withUnsafeBufferPointer({ query in query.baseAddress.map { search($0, count: 1, perLabel: perLabel)[0] } }) else {
            throw AnalysisError(.invalidArgument, reason: "an empty query")
        }
        return found
    }

    /// A search's nearest rows as ``Neighbour`` values.
    private func neighbours(in found: SearchResult) -> [Neighbour] {
        zip(found.rows, found.distances).map { row, distance in
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
        let featureCount = queries.featureCount
        var predicted = [Int](repeating: 0, count: count)
        // Blocks of queries share each pass over the training rows (which then come from memory once per block).
        let block = 64
        let blocks = (count + block - 1) / block
        predicted.withUnsafeMutableBufferPointer { output in
            nonisolated(unsafe) let output = output
            queries.values.withUnsafeBufferPointer { values in
                nonisolated(unsafe) let values = values
                DispatchQueue.concurrentPerform(iterations: blocks) { part in
                    guard let base = values.baseAddress else { return }
                    let first = part * block
                    let results = search(base + first * featureCount, count: min(block, count - first), perLabel: false)
                    for (offset, result) in results.enumerated() { output[first + offset] = votedLabel(result) }
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

    /// The k nearest rows of one query so far: kept sorted by (squared distance, row).
    private struct NearestRows {
        var rows: [Int]
        var squared: [Float]
        var filled = 0

        init(capacity: Int) {
            rows = [Int](repeating: -1, count: capacity)
            squared = [Float](repeating: .infinity, count: capacity)
        }

        /// Takes `row` if it is nearer than the farthest kept one. Rows arrive in increasing order, so a row at the
        /// same distance as kept ones goes after them: ties go to the lower index.
        @inline(__always)
        mutating func offer(_ distance: Float, row: Int) {
            let k = rows.count
            guard filled < k || distance < squared[k - 1] else { return }
            var position = min(filled, k - 1)
            while position > 0 && squared[position - 1] > distance {
                squared[position] = squared[position - 1]
                rows[position] = rows[position - 1]
                position -= 1
            }
            squared[position] = distance
            rows[position] = row
            filled = min(filled + 1, k)
        }
    }

    /// Scans every training row once for `count` queries stored one after another: each query's k nearest rows
    /// (ties to the lower row index) and, optionally, each label's nearest row. // queries: (count, featureCount)
    private func search(_ queries: UnsafePointer<Float>, count: Int, perLabel: Bool) -> [SearchResult] {
        let k = min(neighbourCount, training.rowCount)
        let d = training.featureCount
        var nearest = [NearestRows](repeating: NearestRows(capacity: k), count: count)
        let labelSlots = perLabel ? labels.count : 0
        var labelRow = [Int](repeating: -1, count: count * labelSlots)
        var labelSquared = [Float](repeating: .infinity, count: count * labelSlots)
        training.values.withUnsafeBufferPointer { values in
            guard let base = values.baseAddress else { return }
            for row in 0..<training.rowCount {
                let trainingRow = base + row * d
                let label = labelIndices[row]
                for query in 0..<count {
                    let squared = squaredEuclideanDistance(queries + query * d, trainingRow, count: d)
                    if perLabel {
                        // Strictly nearer only: rows come in order, so the lower index wins a tie.
                        let slot = query * labelSlots + label
                        if squared < labelSquared[slot] || labelRow[slot] < 0 {
                            labelSquared[slot] = squared
                            labelRow[slot] = row
                        }
                    }
                    nearest[query].offer(squared, row: row)
                }
            }
        }
        return (0..<count).map { query in
            SearchResult(
                rows: nearest[query].rows, distances: nearest[query].squared.map { $0.squareRoot() },
                nearestRowPerLabel: Array(labelRow[(query * labelSlots)..<((query + 1) * labelSlots)]),
                nearestSquaredDistancePerLabel: Array(labelSquared[(query * labelSlots)..<((query + 1) * labelSlots)]))
        }
    }

    /// The one vote rule: the labels of the k nearest rows with their votes, most votes first; a tie goes to the
    /// label whose first vote comes from the nearer neighbour (neighbours are in (distance, row) order).
    private func votes(_ result: SearchResult) -> [(label: Int, votes: Int)] {
        var order: [Int] = []
        var votes = [Int](repeating: 0, count: labels.count)
        for row in result.rows {
            let label = labelIndices[row]
            if votes[label] == 0 { order.append(label) }
            votes[label] += 1
        }
        // `order` is by first vote; a stable sort by votes keeps that order within a tie.
        return order.enumerated()
            .sorted { a, b in votes[a.element] != votes[b.element] ? votes[a.element] > votes[b.element] : a.offset < b.offset }
            .map { (label: $0.element, votes: votes[$0.element]) }
    }

    /// The predicted label: the first of ``votes(_:)``.
    private func votedLabel(_ result: SearchResult) -> Int {
        votes(result)[0].label
    }

    /// Every label: those with votes in ``votes(_:)`` order, then the others by the distance to their nearest
    /// training row (then that row's index).
    ///
    /// For a label with votes, its nearest training row is among the k nearest, so ordering ties by first vote is
    /// ordering them by that distance: the ranking is one order throughout.
    private func rankedLabels(_ result: SearchResult) -> [LabelScore] {
        let voted = votes(result)
        var hasVotes = [Bool](repeating: false, count: labels.count)
        for entry in voted { hasVotes[entry.label] = true }
        let others = (0..<labels.count).filter { !hasVotes[$0] }.sorted { a, b in
            let (da, db) = (result.nearestSquaredDistancePerLabel[a], result.nearestSquaredDistancePerLabel[b])
            if da != db { return da < db }
            return result.nearestRowPerLabel[a] < result.nearestRowPerLabel[b]
        }
        return (voted + others.map { (label: $0, votes: 0) }).map { entry in
            let row = result.nearestRowPerLabel[entry.label]
            return LabelScore(label: labels[entry.label], votes: entry.votes,
                              nearestDistance: result.nearestSquaredDistancePerLabel[entry.label].squareRoot(),
                              nearestPath: row >= 0 ? training.paths[row] : "", voterCount: result.rows.count)
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
        // Multiply, then add: `addingProduct` promises a fused operation, which without FMA in the target is a
        // libm call per lane, several times slower.
        sum0 += d0 * d0
        sum1 += d1 * d1
        index += 16
    }
    if index + 8 <= count {
        let d0 = rawA.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Float>.self)
            - rawB.loadUnaligned(fromByteOffset: index * stride, as: SIMD8<Float>.self)
        sum0 += d0 * d0
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

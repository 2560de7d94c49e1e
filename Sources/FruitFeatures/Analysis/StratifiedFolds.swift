/// A split of labelled rows into k folds for cross-validation, each fold holding about the same share of every label.
///
/// ``init(labels:foldCount:seed:)`` shuffles each label's rows with a seeded generator and deals them to the folds
/// in turn, continuing the turn from one label to the next (labels taken in sorted order). So every fold gets
/// ⌊n/k⌋ or ⌈n/k⌉ of a label's n rows, and fold sizes differ by at most one. The shuffle is this file's own
/// (Fisher–Yates driven by SplitMix64), so a seed gives the same folds on every platform and Swift version.
public struct StratifiedFolds: Sendable, Equatable {
    /// The number of folds.
    public let foldCount: Int
    /// The fold of each row, in `0..<foldCount`.
    public let assignment: [Int]

    /// Splits rows with the given labels into `foldCount` stratified folds, shuffled with `seed`.
    ///
    /// - Throws: ``AnalysisError/Kind/invalidArgument`` when `foldCount` is below 2;
    ///   ``AnalysisError/Kind/insufficientData`` when there are fewer rows than folds.
    public init(labels: [String], foldCount: Int, seed: UInt64 = 0) throws(AnalysisError) {
        guard foldCount >= 2 else {
            throw AnalysisError(.invalidArgument, reason: "cross-validation needs at least 2 folds, not \(foldCount)")
        }
        guard labels.count >= foldCount else {
            throw AnalysisError(.insufficientData, reason: "\(labels.count) rows cannot be split into \(foldCount) folds")
        }
        var rowsByLabel: [String: [Int]] = [:]
        for (row, label) in labels.enumerated() { rowsByLabel[label, default: []].append(row) }
        var generator = SplitMix64(seed: seed)
        var assignment = [Int](repeating: 0, count: labels.count)
        var turn = 0
        for label in rowsByLabel.keys.sorted(by: FeatureTable.labelOrder) {
            var rows = rowsByLabel[label] ?? []
            rows.reproducibleShuffle(using: &generator)
            for row in rows {
                assignment[row] = turn
                turn = (turn + 1) % foldCount
            }
        }
        self.foldCount = foldCount
        self.assignment = assignment
    }

    /// Uses a fold assignment made elsewhere (for example to compare with another tool on the same folds).
    ///
    /// - Throws: ``AnalysisError/Kind/invalidArgument`` when `foldCount` is below 2, a fold number is out of range
    ///   or a fold is empty.
    public init(assignment: [Int], foldCount: Int) throws(AnalysisError) {
        guard foldCount >= 2 else {
            throw AnalysisError(.invalidArgument, reason: "cross-validation needs at least 2 folds, not \(foldCount)")
        }
        var sizes = [Int](repeating: 0, count: foldCount)
        for (row, fold) in assignment.enumerated() {
            guard fold >= 0 && fold < foldCount else {
                throw AnalysisError(.invalidArgument, reason: "row \(row) is assigned to fold \(fold), outside 0..<\(foldCount)")
            }
            sizes[fold] += 1
        }
        if let empty = sizes.firstIndex(of: 0) {
            throw AnalysisError(.invalidArgument, reason: "fold \(empty) has no rows")
        }
        self.foldCount = foldCount
        self.assignment = assignment
    }

    /// The rows held out in `fold`, in increasing order.
    public func testRows(of fold: Int) -> [Int] {
        assignment.indices.filter { assignment[$0] == fold }
    }

    /// The rows trained on when `fold` is held out, in increasing order.
    public func trainingRows(of fold: Int) -> [Int] {
        assignment.indices.filter { assignment[$0] != fold }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fixed generator so that seeded results never change.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MutableCollection where Self: RandomAccessCollection, Index == Int {
    /// Fisher–Yates driven by ``SplitMix64``: the same seed gives the same order on every platform and Swift
    /// version (the standard library's `shuffle(using:)` promises no particular algorithm).
    mutating func reproducibleShuffle(using generator: inout SplitMix64) {
        var index = endIndex - 1
        while index > startIndex {
            swapAt(index, startIndex + Int(generator.next() % UInt64(index - startIndex + 1)))
            index -= 1
        }
    }
}

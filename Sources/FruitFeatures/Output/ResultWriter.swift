/// A sink for feature rows that becomes a complete file only when finished.
///
/// Rows are appended in order with ``write(_:)``; ``finish()`` completes the file and moves it into
/// place atomically, so an interrupted run never leaves a file that looks complete. A writer that is
/// dropped without ``finish()`` (or after ``discard()``) leaves nothing at its destination.
public protocol ResultWriter: AnyObject {
    /// The file the writer produces once finished.
    var destination: String { get }

    /// Appends rows; every row must have the writer's feature count.
    func write(_ rows: [FeatureRow]) throws(OutputError)

    /// Completes the file and moves it to ``destination``.
    func finish() throws(OutputError)

    /// Abandons the file: removes what was written so far.
    func discard()
}

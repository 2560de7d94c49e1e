import Foundation

/// Locations of the committed test fixtures.
enum FixturePaths {
    /// The repository's `Fixtures` folder, found from this source file's path.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // FruitFeaturesTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("Fixtures")
}

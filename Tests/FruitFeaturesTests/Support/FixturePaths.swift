import Foundation

/// Where the committed fixtures live, found from this source file's path.
enum FixturePaths {
    /// The repository's Fixtures folder.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // FruitFeaturesTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("Fixtures")
}

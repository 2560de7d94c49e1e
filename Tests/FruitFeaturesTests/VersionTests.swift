import Testing
@testable import FruitFeatures

@Test func versionIsSemantic() {
    #expect(fruitFeaturesVersion.split(separator: ".").count == 3)
}

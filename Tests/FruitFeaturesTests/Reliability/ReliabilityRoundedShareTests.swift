import Foundation
import Testing
@testable import FruitFeatures

/// Explained-variance ratios that a fit rounds just above 1 are a fit's, not a tampered file's: a run of two photos
/// (one component, ratio 1.0000000000000024 on the phone photos of the speed benchmark) is written and read back.
@Suite struct ReliabilityRoundedShareTests {
    @Test func aRatioRoundedAboveOneIsAFitsButAClearExcessIsNot() {
        #expect(PCAModel.varianceProblem(variance: [2.5], ratio: [1.0000000000000024]) == nil)
        #expect(PCAModel.varianceProblem(variance: [2.5, 0], ratio: [1.0000000000000024, 0]) == nil)
        #expect(PCAModel.varianceProblem(variance: [2.5], ratio: [1.001])
            == "explained_variance_ratio[0] is 1.001, not a share in [0, 1]")
    }

    @Test func aSummaryWithARatioRoundedAboveOneValidates() throws {
        let (result, out) = try ExtractCommandTests.extract(try twoPhotos())
        #expect(result.status == 0, "\(result.standardError)")
        var summary = try ExtractionRun(directory: URL(fileURLWithPath: out)).requireSummary()
        summary.pca.explainedVarianceRatio = [1.0000000000000024]
        summary.pca.explainedVarianceRatioTotal = 1.0000000000000024
        #expect(throws: Never.self) { try summary.validate() }
        summary.pca.explainedVarianceRatio = [1.001]
        summary.pca.explainedVarianceRatioTotal = 1.001
        #expect(throws: (any Error).self) { try summary.validate() }
    }

    /// Two photos make one component, which explains all the variance.
    @Test func aRunOfTwoPhotosIsWrittenAndOpens() throws {
        let (result, out) = try ExtractCommandTests.extract(try twoPhotos())
        #expect(result.status == 0, "\(result.standardError)")
        let model = try PCAModel(contentsOf: URL(fileURLWithPath: out + "/pca.h5"))
        #expect(model.componentCount == 1)
        #expect(abs(model.explainedVarianceRatio[0] - 1) <= SummaryLimits.shareTolerance)
        let run = try ExtractionRun(directory: URL(fileURLWithPath: out))
        #expect(try run.readPCAModel().componentCount == 1)
        #expect(try run.requireSummary().pca.components == 1)
    }

    private func twoPhotos() throws -> String {
        let root = try makeScratchFolder("ff-two") + "/photos"
        for label in ["Apple", "Banana"] {
            try FileManager.default.createDirectory(atPath: root + "/" + label, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: ExtractCommandTests.images + "/\(label)/0_100.jpg",
                                             toPath: root + "/\(label)/0_100.jpg")
        }
        return root
    }
}

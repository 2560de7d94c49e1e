import Foundation
import Testing
@testable import FruitFeatures
#if canImport(Glibc)
import Glibc
#endif

/// A run's pca.h5 holding explained variances no fit gives (huge, negative, NaN, ratios adding up to more than 1):
/// `report` and `evaluate` refuse it at load or draw it safely, never trap (Docs/reliability.md, "Our own files").
@Suite struct ReliabilityPCAVarianceTests {
    /// Writes a pca.h5 with these parts by hand (any values, NaN included) over the run's own file.
    static func replacePCA(of run: ExtractionRun, like model: PCAModel, variance: [Double], ratio: [Double]) throws {
        let temporary = try makeScratchFolder("ff-pca") + "/pca.h5"
        try writePCAFileByHand(
            model, featureModel: model.featureModel, variance: variance, ratio: ratio, to: URL(fileURLWithPath: temporary))
        #expect(rename(temporary, run.pcaModelFile.path) == 0)
    }

    /// One pca.h5 and what reading it must say (nil: it is read, and the page drawn).
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var variance: @Sendable ([Double]) -> [Double]
        var ratio: @Sendable ([Double]) -> [Double]
        var refusal: String?
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "huge variances", variance: { _ in [1e308, 1e308, 1e307] }, ratio: { $0 }, refusal: nil),
        Case(name: "the greatest finite variances", variance: { $0.map { _ in .greatestFiniteMagnitude } }, ratio: { $0 }, refusal: nil),
        Case(name: "subnormal ratios", variance: { $0 }, ratio: { _ in [5e-324, 5e-324, 0] }, refusal: nil),
        Case(name: "a ratio of 1e308", variance: { $0 }, ratio: { _ in [1e308, 0.1, 0.1] },
             refusal: "explained_variance_ratio[0] is 1e+308, not a share in [0, 1]"),
        Case(name: "ratios adding up to more than 1", variance: { $0 }, ratio: { _ in [0.6, 0.6, 0.6] },
             refusal: "explained_variance_ratio adds up to"),
        Case(name: "a negative ratio", variance: { $0 }, ratio: { _ in [0.5, -0.1, 0.1] },
             refusal: "explained_variance_ratio[1] is -0.1, not a share in [0, 1]"),
        Case(name: "a negative variance", variance: { [-1] + $0.dropFirst() }, ratio: { $0 },
             refusal: "explained_variance[0] is -1.0, a negative variance"),
        Case(name: "a huge negative variance", variance: { _ in [1e308, -1e308, 1] }, ratio: { $0 },
             refusal: "explained_variance[1] is -1e+308, a negative variance"),
        Case(name: "a NaN variance", variance: { [.nan] + $0.dropFirst() }, ratio: { $0 },
             refusal: "non-finite value in the explained variance"),
        Case(name: "an infinite ratio", variance: { $0 }, ratio: { _ in [.infinity, 0, 0] },
             refusal: "non-finite value in the explained variance ratio"),
    ]

    @Test func explainedVarianceNoFitGivesIsRefusedAtLoadOrDrawnSafely() async throws {
        let extraction = try await AnalysisFixture.extract(componentCount: 3)
        let out = extraction.directory.path
        let fitted = try ExtractionRun(directory: extraction.directory).readPCAModel()
        let photo = extraction.photos[0].path
        let testFolder = URL(fileURLWithPath: photo).deletingLastPathComponent().deletingLastPathComponent().path
        let answer = try FruitRecognizer(contentsOf: extraction.directory).recognize(photoAt: photo)

        for (index, testCase) in Self.cases.enumerated() {
            let run = try ExtractionRun(directory: extraction.directory)
            try Self.replacePCA(of: run, like: fitted, variance: testCase.variance(fitted.explainedVariance),
                                ratio: testCase.ratio(fitted.explainedVarianceRatio))
            // The library entry points of report and evaluate --test.
            do throws(AnalysisError) {
                let page = try ReportPage(folder: ExtractionRun(directory: extraction.directory)).html()
                #expect(testCase.refusal == nil, "\(testCase): drawn, not refused")
                #expect(page.contains("id=\"explained-variance-plot\""), "\(testCase)")
            } catch {
                #expect(error.path == run.pcaModelFile.path, "\(testCase): \(error)")
                #expect(error.kind == .malformed, "\(testCase)")
                #expect(testCase.refusal.map { error.reason.contains($0) } == true, "\(testCase): \(error.reason)")
            }
            do throws(AnalysisError) {
                let recognized = try FruitRecognizer(contentsOf: extraction.directory).recognize(photoAt: photo)
                #expect(testCase.refusal == nil, "\(testCase): recognized, not refused")
                #expect(recognized == answer, "\(testCase)")   // the variances do not enter the projection
            } catch {
                #expect(testCase.refusal.map { error.reason.contains($0) } == true, "\(testCase): \(error.reason)")
            }
            // The commands, for a few of the cases (each evaluate --test loads the network).
            guard index % 3 == 0 else { continue }
            for arguments in [["report", out], ["evaluate", out, "--test", testFolder]] {
                let exit = try SpawnedCommand(arguments).finish()
                #expect(exit.signal == nil, "\(testCase), \(arguments[0]): killed by signal \(exit.signal ?? 0)")
                if let refusal = testCase.refusal {
                    #expect(exit.status == 1, "\(testCase), \(arguments[0]): \(exit.standardError)")
                    #expect(exit.standardError.contains("\(run.pcaModelFile.path): PCA: invalid model: \(refusal)"),
                            "\(testCase), \(arguments[0]): \(exit.standardError)")
                } else {
                    #expect(exit.status == 0, "\(testCase), \(arguments[0]): \(exit.standardError)")
                }
            }
        }
    }

    @Test func theChartsDrawAnyRatiosWithoutTrapping() async throws {
        // A model built in memory skips the file's checks: the drawing itself must hold.
        let hostile: [[Double]] = [
            [1e308, 1e308, 1e308], [-1e308, 1e308, 0], [.nan, 0.5, .infinity], [-.infinity, .nan, .nan],
            [5e-324, 5e-324, 5e-324], [0, 0, 0], [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1],
        ]
        for ratios in hostile {
            let svg = ReportCharts.explainedVariance(ratios: ratios, thresholds: ReportPage.varianceThresholds)
            #expect(svg.hasPrefix("<svg id=\"explained-variance-plot\""))
            #expect(!svg.contains("nan") && !svg.contains("inf"), "\(ratios)")
        }
        let extraction = try await AnalysisFixture.extract(componentCount: 3)
        let run = try ExtractionRun(directory: extraction.directory)
        let fitted = try run.readPCAModel()
        for ratios in hostile where ratios.allSatisfy(\.isFinite) {
            let model = try PCAModel(
                mean: fitted.mean, components: fitted.components, explainedVariance: fitted.explainedVariance,
                explainedVarianceRatio: ratios, sampleCount: fitted.sampleCount, centring: fitted.centring)
            let page = ReportPage(title: "hostile", features: try run.readFeatures(), pca: model).html()
            #expect(page.contains("id=\"explained-variance-plot\""), "\(ratios)")
        }
    }
}

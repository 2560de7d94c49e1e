@testable import FruitFeatures
import Foundation
import Testing

/// Every public error carries a machine-readable kind derived from its reason, and names the file concerned;
/// a service branches on the kind (issue 13, item 6).
@Suite struct ErrorKindTests {
    /// A scratch folder of its own for each test.
    private func scratch() throws -> String { try makeScratchFolder("error-kinds") }

    @Test func photosThatAreNotJPEGsAreNotAPhoto() {
        let empty = #expect(throws: ImageError.self) { try JPEGDecoder().decode([], path: "empty.jpg") }
        #expect(empty?.kind == .notAPhoto)
        #expect(empty?.path == "empty.jpg")
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0]
        let notJPEG = #expect(throws: ImageError.self) { try JPEGDecoder().decode(png, path: "a.png") }
        #expect(notJPEG?.kind == .notAPhoto)
    }

    @Test func aTruncatedJPEGIsCorrupt() throws {
        let whole = try [UInt8](Data(contentsOf: FixturePaths.root.appendingPathComponent("resize/rgb444_61x47.jpg")))
        let error = #expect(throws: ImageError.self) { try JPEGDecoder().decode(Array(whole.prefix(whole.count / 2)), path: "half.jpg") }
        #expect(error?.kind == .corrupt)
    }

    /// A photo file over the size limit is refused as too large, in the photo's domain, with the same words as
    /// before the kind existed ("cannot read the file: file is N bytes, larger than the L limit").
    @Test func aPhotoFileOverTheLimitIsTooLarge() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/big.jpg"
        try Data(repeating: 0xFF, count: 2048).write(to: URL(fileURLWithPath: path))
        let read = #expect(throws: DiscoveryError.self) { try DirectoryImageSource.contents(ofFileAt: path, maximumSize: 1024) }
        let discovery = try #require(read)
        #expect(discovery.kind == .tooLarge)
        let image = ImageError(readFailure: discovery)
        #expect(image.kind == .tooLarge)
        #expect(image.path == path)
        #expect(image.reasonDescription == ImageError(path: path, reason: .unreadable(discovery.reasonText)).reasonDescription)
        #expect(image.description == "\(path): cannot read the file: file is 2048 bytes, larger than the \(byteCountText(1024)) limit")
    }

    @Test func discoveryKinds() {
        #expect(DiscoveryError(path: "in", reason: .notADirectory).kind == .notAFolder)
        #expect(DiscoveryError(path: "in/a", reason: .linkCycle).kind == .badLink)
        #expect(DiscoveryError(path: "*[", reason: .invalidPattern("unclosed [")).kind == .invalidPattern)
    }

    /// PCA failures are PCA errors with their own kinds, never image or discovery errors.
    @Test func pcaKindsAndFile() throws {
        let fit = #expect(throws: PCAError.self) { try LAPACKPCA(components: .count(1)).fit(Array(repeating: 1, count: 4), rowCount: 1, dimension: 4) }
        #expect(fit?.kind == .insufficientData)
        #expect(fit?.path == nil)
        #expect(PCAError.nonFiniteValue(row: 0, column: 3).kind == .invalidData)
        #expect(PCAError.lapackFailure(routine: "ssyevr", info: 2).kind == .numericalFailure)
        let file = PCAError.file(path: "out/pca.h5", reason: "not a PCA model")
        #expect(file.kind == .file)
        #expect(file.path == "out/pca.h5")
    }

    @Test func extractionKindsAndPaths() {
        #expect(ExtractionError.outputInUse("out").kind == .outputNotUsable)
        #expect(ExtractionError.outputInUse("out").path == "out")
        #expect(ExtractionError.noImages(input: "in", pattern: "*.jpg").path == "in")
        let pca = ExtractionError.pca(.file(path: "out/pca.h5", reason: "r"))
        #expect(pca.kind == .pca)
        #expect(pca.path == "out/pca.h5")
        let output = ExtractionError.output(OutputError(.write, path: "out/features.csv", reason: "disk full"))
        #expect(output.kind == .unwritable)
        #expect(output.path == "out/features.csv")
        #expect(ExtractionError.invalidSettings("jobs").path == nil)
    }

    @Test func weightsKinds() throws {
        // A JPEG is not HDF5: unreadable as weights, naming the file.
        let jpeg = FixturePaths.root.appendingPathComponent("resize/rgb444_61x47.jpg")
        let notHDF5 = #expect(throws: WeightsError.self) { try MobileNetV2Extractor(weightsAt: jpeg) }
        #expect(notHDF5?.kind == .unreadable)
        #expect(notHDF5?.file == jpeg.path)
        #expect(WeightsError(file: "w.h5", reason: .missingLayers(expected: 52, found: 3)).kind == .wrongModel)
        #expect(WeightsError(file: "w.h5", reason: .noKerasWeights).kind == .notWeights)
        #expect(HDF5Error(file: "w.h5", object: "/", reason: .fileNotFound).kind == .notFound)
        #expect(HDF5Error(file: "w.h5", object: "/x", reason: .linkLeavesFile("an external link")).kind == .refusedLink)
    }

    @Test func weightsLocationKinds() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let refused = #expect(throws: WeightsLocationError.self) {
            try WeightsLocation.resolve(explicit: folder + "/gone.h5", environment: ["HOME": folder])
        }
        #expect(refused?.kind == .refused)
        #expect(refused?.path == folder + "/gone.h5")
        let notFound = #expect(throws: WeightsLocationError.self) {
            try WeightsLocation.resolve(explicit: nil, environment: ["HOME": folder])
        }
        #expect(notFound?.kind == .notFound)
        #expect(notFound?.path == nil)
    }

    @Test func bufferSizeIsTheOnlyFeatureExtractionKind() {
        #expect(FeatureExtractionError(buffer: .input, expected: 3, actual: 2).kind == .bufferSize)
    }
}

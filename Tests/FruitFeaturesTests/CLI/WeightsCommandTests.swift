import Foundation
import Testing

@Suite struct WeightsCommandTests {
    @Test func downloadFetchesIntoPlaceAtomically() throws {
        let served = try makeScratchFolder()
        // Real (small) weights: `weights locate` checks that what it finds loads.
        let payload = try Data(contentsOf: URL(fileURLWithPath: Reliability.weights))
        try payload.write(to: URL(fileURLWithPath: served + "/weights.h5"))
        try Data("not weights".utf8).write(to: URL(fileURLWithPath: served + "/page.html"))
        let server = try LoopbackHTTPServer(serving: served)
        let home = try makeScratchFolder()

        let result = try CommandRunner.run(
            ["weights", "download", "--url", server.url("weights.h5"), "--no-progress"], environment: ["HOME": home])
        let cached = home + "/.keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == cached + "\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cached)) == payload)

        let located = try CommandRunner.run(["weights", "locate"], environment: ["HOME": home, "FRUITFEATURES_WEIGHTS": ""])
        #expect(located.standardOutput == cached + "\n")

        let notWeights = try CommandRunner.run(
            ["weights", "download", "--url", server.url("page.html"), "--output", home + "/x.h5", "--no-progress"])
        #expect(notWeights.status == 1)
        #expect(notWeights.standardError.contains("did not return an HDF5 file"))
        #expect(!FileManager.default.fileExists(atPath: home + "/x.h5"))

        let missing = try CommandRunner.run(
            ["weights", "download", "--url", server.url("missing.h5"), "--output", home + "/y.h5", "--no-progress"])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("HTTP 404"))
        #expect(!FileManager.default.fileExists(atPath: home + "/y.h5"))
    }

    @Test func locateFollowsFlagThenEnvironmentThenCache() throws {
        let home = try makeScratchFolder()
        let file = home + "/w.h5"
        try FileManager.default.copyItem(atPath: Reliability.weights, toPath: file)
        let viaEnvironment = try CommandRunner.run(["weights", "locate"], environment: ["HOME": home, "FRUITFEATURES_WEIGHTS": file])
        #expect(viaEnvironment.standardOutput == file + "\n")
        let viaFlag = try CommandRunner.run(["weights", "locate", "--weights", file], environment: ["FRUITFEATURES_WEIGHTS": "/nope"])
        #expect(viaFlag.standardOutput == file + "\n")
        let nothing = try CommandRunner.run(["weights", "locate"], environment: ["HOME": home, "FRUITFEATURES_WEIGHTS": ""])
        #expect(nothing.status == 1)
        #expect(nothing.standardError.hasPrefix("fruitfeatures: error: no MobileNetV2 weights found"))
        #expect(nothing.standardError.contains("fruitfeatures weights download"))
    }
}

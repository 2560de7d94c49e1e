import CZlib
import Foundation
import Testing
@testable import FruitFeatures

/// Builds small zip archives in memory: stored or deflated members, with headers that can be made to lie.
enum TestZip {
    struct Member {
        var name: String
        var data: [UInt8]
        var deflate = false
        /// Overrides the declared uncompressed size / CRC (to make them lie).
        var declaredSize: Int? = nil
        var declaredCRC: UInt32? = nil
    }

    static func rawDeflate(_ data: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        _ = deflateInit2_(&stream, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(data.count))) + 16)
        var input = data
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return outBuffer.count - Int(stream.avail_out)
            }
        }
        return Array(output.prefix(produced))
    }

    static func crc(_ data: [UInt8]) -> UInt32 {
        data.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    static func archive(_ members: [Member]) -> [UInt8] {
        var bytes: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ value: Int, into out: inout [UInt8]) { out += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func u32(_ value: Int, into out: inout [UInt8]) { for shift in [0, 8, 16, 24] { out.append(UInt8(value >> shift & 0xFF)) } }
        for member in members {
            let payload = member.deflate ? rawDeflate(member.data) : member.data
            let name = Array(member.name.utf8)
            let crc = Int(member.declaredCRC ?? crc(member.data))
            let size = member.declaredSize ?? member.data.count
            let offset = bytes.count
            u32(0x0403_4B50, into: &bytes); u16(20, into: &bytes); u16(0, into: &bytes); u16(member.deflate ? 8 : 0, into: &bytes)
            u16(0, into: &bytes); u16(0, into: &bytes); u32(crc, into: &bytes); u32(payload.count, into: &bytes)
            u32(size, into: &bytes); u16(name.count, into: &bytes); u16(0, into: &bytes)
            bytes += name + payload
            u32(0x0201_4B50, into: &central); u16(20, into: &central); u16(20, into: &central); u16(0, into: &central)
            u16(member.deflate ? 8 : 0, into: &central); u16(0, into: &central); u16(0, into: &central); u32(crc, into: &central)
            u32(payload.count, into: &central); u32(size, into: &central); u16(name.count, into: &central)
            for _ in 0..<4 { u16(0, into: &central) }
            u32(0, into: &central); u32(offset, into: &central)
            central += name
        }
        let centralOffset = bytes.count
        bytes += central
        u32(0x0605_4B50, into: &bytes); u16(0, into: &bytes); u16(0, into: &bytes)
        u16(members.count, into: &bytes); u16(members.count, into: &bytes)
        u32(central.count, into: &bytes); u32(centralOffset, into: &bytes); u16(0, into: &bytes)
        return bytes
    }

    static func write(_ bytes: [UInt8], named name: String) throws -> URL {
        let url = URL(fileURLWithPath: TestScratch.root).appendingPathComponent("fruitfeatures-\(UUID().uuidString)-\(name)")
        try Data(bytes).write(to: url)
        return url
    }
}

/// `.keras` archives and `.weights.h5` files: reading, and every way a broken archive is refused.
@Suite struct KerasArchiveTests {
    func reason(_ body: () throws -> Void) -> ZipError.Reason? {
        do {
            try body()
        } catch let error as WeightsError {
            if case .archive(let zip) = error.reason { return zip.reason }
        } catch let error as ZipError {
            return error.reason
        } catch {}
        return nil
    }

    @Test func storedAndDeflatedMembersAreRead() throws {
        for name in ["mobilenet_v2_0.35.keras", "classifier_mobilenet_v2_0.35.keras"] {
            let archive = try ZipArchive(contentsOf: Keras3Goldens.weightsURL(name))
            #expect(Set(archive.members.map(\.name)) == ["config.json", "metadata.json", "model.weights.h5"])
            let weights = try archive.contents(of: "model.weights.h5")
            #expect(weights.count == archive.member(named: "model.weights.h5")?.uncompressedSize)
            #expect(Array(weights.prefix(4)) == [0x89, 0x48, 0x44, 0x46], "\(name): the member is HDF5")
            let config = try #require(KerasModelConfig(json: try archive.contents(of: "config.json")))
            #expect(config.className == "Functional")
        }
        let deflated = try ZipArchive(contentsOf: Keras3Goldens.weightsURL("classifier_mobilenet_v2_0.35.keras"))
        #expect(deflated.member(named: "model.weights.h5")?.method == 8)
        let stored = try ZipArchive(contentsOf: Keras3Goldens.weightsURL("mobilenet_v2_0.35.keras"))
        #expect(stored.member(named: "model.weights.h5")?.method == 0)
    }

    @Test func configNamesTheNestedBackbone() throws {
        let file = try KerasWeightsFile(contentsOf: Keras3Goldens.weightsURL("classifier_mobilenet_v2_0.35.keras"))
        #expect(file.nestedBackbone == "mobilenetv2_0.35_224")
        #expect(file.config?.model(containing: "Conv1")?.path == ["mobilenetv2_0.35_224"])
        #expect(file.config?.inputSize?.height == 224)
        #expect(file.formatDescription.contains(".keras"))
        let plain = try KerasWeightsFile(contentsOf: Keras3Goldens.weightsURL("mobilenet_v2_0.35.weights.h5"))
        #expect(plain.nestedBackbone == nil)
        #expect(plain.formatDescription.contains(".weights.h5"))
        #expect(KerasWeightsFile.snakeCase("DepthwiseConv2D") == "depthwise_conv2d")
        #expect(KerasWeightsFile.snakeCase("BatchNormalization") == "batch_normalization")
        #expect(KerasWeightsFile.snakeCase("ZeroPadding2D") == "zero_padding2d")
        #expect(KerasWeightsFile.snakeCase("InputLayer") == "input_layer")
    }

    /// The committed broken archives, each refused with a reason that says what is wrong.
    @Test func brokenArchivesAreRefused() throws {
        func load(_ name: String) -> ZipError.Reason? {
            reason { _ = try KerasWeightsFile(contentsOf: Keras3Goldens.weightsURL(name)) }
        }
        #expect(load("broken_not_zip.keras") == .notZip)
        #expect(load("broken_truncated.keras") == .notZip)
        guard case .missingMember(let missing) = load("broken_no_weights.keras") else {
            Issue.record("no weights member: wrong reason"); return
        }
        #expect(missing.hasPrefix("model.weights.h5"))
        guard case .sizeMismatch(let member, _, let actual) = load("broken_size_lies.keras") else {
            Issue.record("size lies: wrong reason"); return
        }
        #expect(member == "model.weights.h5" && actual == "more")
        guard case .tooLarge = load("broken_zip_bomb.keras") else { Issue.record("zip bomb: wrong reason"); return }
        do {
            _ = try KerasWeightsFile(contentsOf: Keras3Goldens.weightsURL("broken_zip_bomb.keras"))
        } catch {
            #expect("\(error)".contains("broken_zip_bomb.keras") && "\(error)".contains("zip bomb"))
        }
    }

    @Test func headersThatLieAreRefused() throws {
        let data = Array(repeating: UInt8(7), count: 5000) + Array("weights".utf8)
        // Declared smaller and larger than the deflated stream holds.
        for declared in [4000, 6000] {
            let bytes = TestZip.archive([.init(name: "model.weights.h5", data: data, deflate: true, declaredSize: declared)])
            let archive = try ZipArchive(bytes: bytes, file: "lying.keras")
            guard case .sizeMismatch = reason({ _ = try archive.contents(of: "model.weights.h5") }) else {
                Issue.record("declared \(declared): not a size mismatch"); continue
            }
        }
        // A stored member whose sizes disagree, a wrong CRC, a declared size over the caller's limit.
        let stored = TestZip.archive([.init(name: "a", data: data, declaredSize: 10)])
        #expect(reason { _ = try ZipArchive(bytes: stored, file: "x").contents(of: "a") } != nil)
        let wrongCRC = TestZip.archive([.init(name: "a", data: data, deflate: true, declaredCRC: 12345)])
        #expect(reason { _ = try ZipArchive(bytes: wrongCRC, file: "x").contents(of: "a") } == .checksumMismatch("a"))
        let fine = TestZip.archive([.init(name: "a", data: data, deflate: true)])
        #expect(try ZipArchive(bytes: fine, file: "x").contents(of: "a") == data)
        guard case .tooLarge = reason({ _ = try ZipArchive(bytes: fine, file: "x").contents(of: "a", maximumBytes: 100) }) else {
            Issue.record("limit not enforced"); return
        }
        // A declared size of 4 GiB − 2 (a bomb declaring itself) is refused before anything is allocated.
        let huge = TestZip.archive([.init(name: "a", data: data, deflate: true, declaredSize: 0xFFFF_FFFE)])
        guard case .tooLarge = reason({ _ = try ZipArchive(bytes: huge, file: "x").contents(of: "a") }) else {
            Issue.record("huge declared size accepted"); return
        }
    }

    /// Every prefix of an archive, and every single-byte corruption of one, is either read or refused: never a crash.
    @Test func damagedArchivesNeverCrash() throws {
        let data = Array((0..<300).map { UInt8($0 % 251) })
        let bytes = TestZip.archive([.init(name: "config.json", data: Array("{}".utf8)),
                                     .init(name: "model.weights.h5", data: data, deflate: true)])
        func attempt(_ candidate: [UInt8]) -> Bool {
            do {
                let archive = try ZipArchive(bytes: candidate, file: "fuzz.keras")
                for member in archive.members { _ = try archive.contents(of: member, maximumBytes: 1 << 20) }
                return true
            } catch {
                return false
            }
        }
        #expect(attempt(bytes))
        for length in 0..<bytes.count { #expect(!attempt(Array(bytes.prefix(length))), "prefix \(length) accepted") }
        var accepted = 0
        for position in bytes.indices {
            for value: UInt8 in [0x00, 0xFF, bytes[position] ^ 0x01] where value != bytes[position] {
                var damaged = bytes
                damaged[position] = value
                if attempt(damaged) { accepted += 1 }
            }
        }
        // Flips in unchecked fields (times, versions, attributes) are harmless; most others are caught.
        #expect(accepted < bytes.count)
    }

    @Test func anHDF5ImageInMemoryIsReadLikeAFile() throws {
        let url = Keras3Goldens.weightsURL("mobilenet_v2_0.35.weights.h5")
        let bytes = [UInt8](try Data(contentsOf: url))
        let image = try HDF5File(image: bytes, url: url)
        #expect(try image.root.memberNames().contains("layers"))
        #expect(throws: HDF5Error.self) { try HDF5File(image: Array("not hdf5".utf8), url: url) }
        #expect(throws: HDF5Error.self) { try HDF5File(image: Array(bytes.prefix(bytes.count / 3)), url: url) }
    }

    /// An archive whose config.json describes another network is refused, naming it.
    @Test func anUnknownArchitectureIsNamed() throws {
        let source = try ZipArchive(contentsOf: Keras3Goldens.weightsURL("mobilenet_v2_0.35.keras"))
        let config = #"{"class_name": "Functional", "config": {"name": "resnet50", "layers": [{"class_name": "Conv2D", "config": {"name": "conv1_conv"}}]}}"#
        let bytes = TestZip.archive([.init(name: "config.json", data: Array(config.utf8)),
                                     .init(name: "model.weights.h5", data: try source.contents(of: "model.weights.h5"))])
        let url = try TestZip.write(bytes, named: "resnet.keras")
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try KerasWeightsFile(contentsOf: url)
        do {
            _ = try file.backboneArchitecture()
            Issue.record("resnet50 accepted")
        } catch {
            guard case .unknownArchitecture(let detail) = error.reason else { Issue.record("\(error)"); return }
            #expect(detail.contains("resnet50"))
        }
        // Without config.json, the native layout's depthwise count decides; a legacy file of another network
        // (a Dense layer only) is refused naming its layers.
        let legacy = URL(fileURLWithPath: TestScratch.root).appendingPathComponent("fruitfeatures-\(UUID().uuidString)-dense.h5")
        defer { try? FileManager.default.removeItem(at: legacy) }
        do {
            let h5 = try HDF5File(creatingAt: legacy)
            try h5.root.setAttribute("layer_names", to: ["dense_head"])
            let group = try h5.root.createGroup("dense_head")
            try group.setAttribute("weight_names", to: ["dense_head/kernel:0"])
            _ = try group.writeDataset("dense_head/kernel:0", shape: [4, 2], values: [Float](repeating: 0.5, count: 8))
            try h5.flush()
        }
        do {
            _ = try KerasWeightsFile(contentsOf: legacy).backboneArchitecture()
            Issue.record("a Dense-only file accepted")
        } catch {
            guard case .unknownArchitecture(let detail) = error.reason else { Issue.record("\(error)"); return }
            #expect(detail.contains("dense_head"))
        }
    }
}

import Foundation
@testable import FruitFeatures

/// Writes a pca.h5 by hand, attribute by attribute as `PCAModel.write(to:)` writes it, so that a test can put in
/// what the library would never write: other explained variances (any values, NaN included), or one attribute
/// changed by `edit` after the others are written.
///
/// - Parameters:
///   - featureModel: the `feature_model_*` attributes; nil writes none (a file from before they were recorded).
///   - variance, ratio: the explained variances and their ratios; nil writes the model's own.
func writePCAFileByHand(
    _ model: PCAModel, featureModel: FeatureModelIdentity?, variance: [Double]? = nil, ratio: [Double]? = nil,
    to url: URL, edit: (HDF5Group) throws -> Void = { _ in }
) throws {
    // The file is closed (its last reference gone) when this returns, before a caller moves it.
    let file = try HDF5File(creatingAt: url)
    let root = file.root
    try root.setAttribute("format", to: PCAModel.fileFormat)
    try root.setAttribute("format_version", to: 1)
    try root.setAttribute("k", to: model.componentCount)
    try root.setAttribute("dimension", to: model.dimension)
    try root.setAttribute("n_samples", to: model.sampleCount)
    try root.setAttribute("centred", to: 1)
    if let identity = featureModel {
        try root.setAttribute("feature_model_architecture", to: identity.architecture)
        if let alpha = identity.alpha { try root.setAttribute("feature_model_alpha", to: alpha) }
        try root.setAttribute("feature_model_input_size", to: identity.inputSize)
        try root.setAttribute("feature_model_preprocessing", to: identity.preprocessing)
        try root.setAttribute("feature_model_feature_count", to: identity.featureCount)
        try root.setAttribute("feature_model_weights_sha256", to: identity.weightsSHA256)
        try root.setAttribute("feature_model_kernel_level", to: identity.kernelLevel)
    }
    try root.writeDataset("mean", shape: [model.dimension], values: model.mean)
    try root.writeDataset("components", shape: [model.componentCount, model.dimension], values: model.components)
    try root.writeDataset("explained_variance", shape: [model.componentCount], values: variance ?? model.explainedVariance)
    try root.writeDataset(
        "explained_variance_ratio", shape: [model.componentCount], values: ratio ?? model.explainedVarianceRatio)
    try edit(root)
    try file.flush()
}

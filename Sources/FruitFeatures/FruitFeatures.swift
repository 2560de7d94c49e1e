/// The version of the FruitFeatures library, written into every output summary.
public let fruitFeaturesVersion = "0.1.0"

import ArgumentParser
import FruitFeatures

@main
struct FruitFeaturesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fruitfeatures",
        abstract: "Turn folders of fruit photos into MobileNetV2 features reduced by PCA.",
        version: fruitFeaturesVersion,
        subcommands: []
    )
}

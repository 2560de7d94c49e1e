#!/usr/bin/env bash
# Compares the FruitFeatures module's public symbols with its DocC catalog (Scripts/check_docc.py).
# Needs a release build (`swift build -c release`, as Scripts/test.sh makes) and reads its module.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(swift build -c release --show-bin-path)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
maps=()
for map in Sources/C*/module.modulemap "$build"/C*.build/module.modulemap; do
    maps+=(-Xcc "-fmodule-map-file=$map")
done
includes=()
for dir in $(pkg-config --cflags-only-I hdf5 openblas lapacke libjpeg snappy libzstd | tr ' ' '\n' | sed -n 's/^-I//p') \
           Sources/C*/include; do
    includes+=(-Xcc "-I$dir")
done
swift symbolgraph-extract -module-name FruitFeatures -I "$build/Modules" "${maps[@]}" "${includes[@]}" \
    -target "$(uname -m)-unknown-linux-gnu" -minimum-access-level public -output-dir "$out"
python3 Scripts/check_docc.py "$out/FruitFeatures.symbols.json" Sources/FruitFeatures/FruitFeatures.docc

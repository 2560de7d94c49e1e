#!/usr/bin/env bash
# FruitFeatures vs ONNX Runtime on MobileNetV2 and MobileNetV3-Large features, same machine, same inputs, one run.
#   bash Scripts/compare_onnx.sh [--images N] [--passes P] [--batch B] [--workers W] [--work DIR]
#                                [--v3-weights FILE] [--v3-only | --no-v3]
# Makes (once) a virtualenv with onnxruntime, tf2onnx and tensorflow-cpu from pip in .venv-onnx/
# (or $FRUITFEATURES_ONNX_VENV), builds the plain release binaries, then runs Scripts/compare_onnx.py,
# which prints ORT images/s, extractor images/s (MobileNetV2, then MobileNetV3-Large), end-to-end images/s and
# peak RSS, the ratios, the CPU (lscpu model, family/model, flags), and
# checks that ONNX Runtime, Keras and FruitFeatures compute the same features (exits non-zero if not).
# See Docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FRUITFEATURES_ONNX_VENV:-.venv-onnx}
packages=(onnxruntime==1.32.0 tf2onnx==1.17.0 tensorflow-cpu==2.21.0 pillow==13.0.0 h5py numpy scikit-learn)
stamp="$venv/compare-onnx-packages.txt"
if [[ ! -x $venv/bin/python || ! -f $stamp || "$(cat "$stamp")" != "${packages[*]}" ]]; then
    echo "setting up $venv: ${packages[*]}" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check -q "${packages[@]}"
    echo "${packages[*]}" >"$stamp"
fi
echo "building release binaries (plain swift build -c release)" >&2
swift build -c release --product fruitfeatures >/dev/null
swift build -c release --product fruitfeatures-benchmark >/dev/null
bin=$(swift build -c release --show-bin-path)
exec "$venv/bin/python" Scripts/compare_onnx.py --bin-dir "$bin" "$@"

#!/usr/bin/env bash
# Runs the whole test suite. Release mode: the numeric kernels are too slow in debug Swift.
set -euo pipefail
cd "$(dirname "$0")/.."
export FRUITFEATURES_PYTHON="$PWD/.venv/bin/python"
swift build -c release
swift test -c release -Xswiftc -enable-testing

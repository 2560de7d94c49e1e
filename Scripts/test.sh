#!/usr/bin/env bash
# Runs the whole test suite. Release mode: the numeric kernels are too slow in debug Swift.
set -euo pipefail
cd "$(dirname "$0")/.."
export FRUITFEATURES_PYTHON="$PWD/.venv/bin/python"
# One build, products and tests together: `swift test` passes -enable-testing itself, so a plain
# `swift build -Xswiftc -enable-testing` before it differs in its command lines and everything (SwiftNIO,
# Crypto, the library) was compiled a second time (≈ 5 of CI's 19 minutes). `--skip-build` below reuses this.
swift build -c release -Xswiftc -enable-testing --build-tests
# The public API and its DocC catalog agree: every public symbol documented and listed (needs python3 only).
bash Scripts/check_docc.sh
swift test -c release -Xswiftc -enable-testing --skip-build
# The example service package builds on the public API alone and answers as `predict` does.
bash Scripts/check_example.sh
# The C ABI, the Python binding and the PySpark job in local mode (python/tests; needs Java 17 for Spark).
"$FRUITFEATURES_PYTHON" -m pytest -q python/tests

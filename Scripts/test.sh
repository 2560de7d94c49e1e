#!/usr/bin/env bash
# Runs the whole test suite. Release mode: the numeric kernels are too slow in debug Swift.
set -euo pipefail
cd "$(dirname "$0")/.."
export FRUITFEATURES_PYTHON="$PWD/.venv/bin/python"
# One set of flags for the products and the tests, so nothing is compiled twice.
swift build -c release -Xswiftc -enable-testing
# The public API and its DocC catalog agree: every public symbol documented and listed (needs python3 only).
bash Scripts/check_docc.sh
swift test -c release -Xswiftc -enable-testing
# The example service package builds on the public API alone and answers as `predict` does.
bash Scripts/check_example.sh
# The C ABI, the Python binding and the PySpark job in local mode (python/tests; needs Java 17 for Spark).
"$FRUITFEATURES_PYTHON" -m pytest -q python/tests

#!/usr/bin/env bash
# Installs what FruitFeatures needs on a fresh Debian 12 machine with the Swift toolchain.
#   bash Scripts/setup.sh          C libraries for building and running
#   bash Scripts/setup.sh --test   also Java, Chromium and a Python virtualenv (.venv) with the
#                                  external readers the tests check the outputs with
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(pkg-config libjpeg-dev libopenblas-dev liblapacke-dev libhdf5-dev libsnappy-dev libzstd-dev zlib1g-dev)
if [[ "${1:-}" == "--test" ]]; then
    apt_packages+=(python3-venv default-jre-headless chromium)
fi

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
    python=${PYTHON:-python3}
    [[ -x .venv/bin/python ]] || "$python" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r Scripts/requirements-test.txt
fi

#!/usr/bin/env bash
# Prepares a Spark node (EMR bootstrap action, Dataproc initialization action, image build step) for
# `python -m fruitfeatures.spark`: the C libraries libfruitfeatures_c.so links against and the Python packages
# the executors' pandas UDFs need. No TensorFlow. See Docs/spark.md.
#
#   bash spark_bootstrap.sh [PYTHON]        PYTHON: the interpreter Spark runs (default python3)
#
# Skip the first part when the native bundle was made with Scripts/package_spark.sh --bundle-system-libs.
set -euo pipefail
python=${1:-python3}
sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"

if command -v apt-get >/dev/null; then
    # Debian 12 / Ubuntu (Dataproc, Kubernetes images): the runtime packages behind the build's -dev packages.
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        libjpeg62-turbo libopenblas0-pthread liblapacke libhdf5-103-1 libsnappy1v5 libzstd1 libcurl4 python3-pip
elif command -v dnf >/dev/null || command -v yum >/dev/null; then
    # Amazon Linux 2023 (EMR 7) / RHEL 9 family. The library must have been built on the same family (sonames
    # differ: Debian's libhdf5_serial.so.103 is not Fedora's libhdf5.so.*); a package your release lacks
    # (hdf5 is not in every Amazon Linux repository) calls for a --bundle-system-libs bundle instead.
    installer=$(command -v dnf || command -v yum)
    $sudo "$installer" install -y -q libjpeg-turbo openblas lapack hdf5 snappy libzstd libcurl \
        || echo "spark_bootstrap.sh: some C libraries are missing from this OS's repositories;" \
                "use a bundle made with --bundle-system-libs" >&2
else
    echo "spark_bootstrap.sh: no apt-get, dnf or yum: install libjpeg-turbo, OpenBLAS, LAPACKE, HDF5, Snappy," \
         "Zstandard and libcurl by hand" >&2
fi

# The executors' Python: Arrow-based pandas UDFs need numpy, pandas and pyarrow.
pip_options=(-q --disable-pip-version-check)
"$python" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages && pip_options+=(--break-system-packages)
$sudo "$python" -m pip install "${pip_options[@]}" numpy pandas pyarrow

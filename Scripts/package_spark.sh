#!/usr/bin/env bash
# Packages what Spark executors need to run `python -m fruitfeatures.spark` (see Docs/spark.md):
#
#   DIR/fruitfeatures_native.tar.gz   lib/libfruitfeatures_c.so (+ the libraries it needs that executors lack),
#                                     include/fruitfeatures.h, MANIFEST.txt      → spark-submit --archives ...#ffnative
#   DIR/fruitfeatures.zip             the Python package (fruitfeatures/)       → spark-submit --py-files
#   DIR/run_fruitfeatures.py          the job's entry point for spark-submit
#   DIR/WEIGHTS.h5                    the weights, when --weights is given      → the job's --weights (it addFile()s them)
#   DIR/spark-submit.example.sh       the command line, filled in
#
#   bash Scripts/package_spark.sh [--output DIR] [--weights FILE] [--runtime static|bundled] [--bundle-system-libs]
#
# --runtime static (default): the Swift runtime and Foundation are linked into the library (-static-stdlib):
#     one self-contained .so (≈60 MB stripped) that needs only the C libraries below on the executors.
#     Built in its own scratch folder (.build-spark), so the regular .build is left alone.
# --runtime bundled: the regular .build/release library plus the Swift runtime .so files ldd resolves into the
#     toolchain (libswiftCore, libFoundation*, lib_FoundationICU, libdispatch...), found through the library's
#     RUNPATH $ORIGIN.
# --bundle-system-libs: also copy the C libraries (libjpeg, OpenBLAS, LAPACKE, HDF5, Snappy, Zstd, libcurl and
#     what they pull in) for executors where packages cannot be installed. glibc, libstdc++ and libgcc_s are never
#     copied: the host process (Python) has its own, and an older copy loaded first would break it. The Python
#     binding preloads the copied libraries listed in lib/bundled-libraries.txt.
#
# Executors must run the same C library generation as the build machine (glibc ≥ the build's): build the bundle
# on the executors' OS (e.g. in an Amazon Linux 2023 container for EMR 7) — see Docs/spark.md.
set -euo pipefail
cd "$(dirname "$0")/.."

output=dist/spark
weights=""
runtime=static
bundle_system=0
while (( $# )); do
    case "$1" in
        --output) output=$2; shift 2 ;;
        --weights) weights=$2; shift 2 ;;
        --runtime) runtime=$2; shift 2 ;;
        --bundle-system-libs) bundle_system=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "package_spark.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
[[ $runtime == static || $runtime == bundled ]] || { echo "--runtime is static or bundled" >&2; exit 64; }
[[ -z $weights || -f $weights ]] || { echo "no weights file at $weights" >&2; exit 66; }

echo "Building libfruitfeatures_c ($runtime Swift runtime)..."
if [[ $runtime == static ]]; then
    swift build -c release --product fruitfeatures_c -Xswiftc -static-stdlib --scratch-path .build-spark
    built=.build-spark/release/libfruitfeatures_c.so
else
    swift build -c release --product fruitfeatures_c
    built=.build/release/libfruitfeatures_c.so
fi

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
native=$staging/native
mkdir -p "$native/lib" "$native/include" "$output"
cp "$built" "$native/lib/"
strip --strip-unneeded "$native/lib/libfruitfeatures_c.so"
cp Sources/FruitFeaturesC/include/fruitfeatures.h "$native/include/"

swift_lib_dir=$(cd "$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux" && pwd)
# glibc's own libraries, the loader, and the C++ runtime: always the host's.
never_copy='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libstdc\+\+|libgcc_s)\.'
bundled=()
while read -r name path; do
    [[ -n $path && -f $path ]] || continue
    if [[ $path == "$swift_lib_dir"/* ]]; then
        [[ $runtime == bundled ]] && bundled+=("$path")
    elif (( bundle_system )) && ! [[ $name =~ $never_copy ]]; then
        bundled+=("$path")
    fi
done < <(ldd "$built" | awk '/=>/ { print $1, $3 }')
for path in "${bundled[@]}"; do
    cp -L "$path" "$native/lib/$(basename "$path")"
done
# bundled-libraries.txt lists the copies dependencies first: the Python binding loads them in this order, so each
# one's own dependencies are already loaded (by soname) and are not looked up on the system instead.
: > "$native/lib/bundled-libraries.txt"
pending=()
for path in "${bundled[@]}"; do pending+=("$(basename "$path")"); done
while (( ${#pending[@]} )); do
    remaining=()
    for name in "${pending[@]}"; do
        ready=1
        for needed in $(readelf -d "$native/lib/$name" | awk '/NEEDED/ { gsub(/[][]/, "", $5); print $5 }'); do
            if [[ -f $native/lib/$needed ]] && ! grep -qxF "$needed" "$native/lib/bundled-libraries.txt"; then
                ready=0
            fi
        done
        if (( ready )); then echo "$name" >> "$native/lib/bundled-libraries.txt"; else remaining+=("$name"); fi
    done
    if (( ${#remaining[@]} == ${#pending[@]} )); then  # a cycle: keep ldd's order for the rest
        printf '%s\n' "${remaining[@]}" >> "$native/lib/bundled-libraries.txt"
        break
    fi
    pending=("${remaining[@]}")
done

{
    echo "libfruitfeatures_c $(git describe --always --dirty 2>/dev/null || echo unknown), built $(date -u +%FT%TZ)"
    echo "runtime: $runtime; system libraries bundled: $bundle_system"
    echo "build machine: $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1)"
    echo "$(swift --version 2>&1 | head -1)"
    echo
    echo "Bundled next to the library (lib/):"
    sed 's/^/  /' "$native/lib/bundled-libraries.txt"
    echo
    echo "Direct dependencies of the library (NEEDED); those not bundled must be installed on the executors:"
    readelf -d "$native/lib/libfruitfeatures_c.so" | awk '/NEEDED/ { gsub(/[][]/, "", $5); print "  " $5 }' 
} > "$native/MANIFEST.txt"

tar -C "$native" -czf "$output/fruitfeatures_native.tar.gz" .
rm -f "$output/fruitfeatures.zip"
"${PYTHON:-python3}" - "$output/fruitfeatures.zip" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as archive:
    for name in sorted(os.listdir("python/fruitfeatures")):
        if name.endswith(".py"):
            archive.write(os.path.join("python/fruitfeatures", name), "fruitfeatures/" + name)
EOF
cat > "$output/run_fruitfeatures.py" <<'EOF'
"""spark-submit entry point: the fruitfeatures package comes with --py-files fruitfeatures.zip."""
import sys

from fruitfeatures.spark import main

sys.exit(main())
EOF
weights_argument="s3://YOUR-BUCKET/mobilenet_v2_1.0_224.h5"
if [[ -n $weights ]]; then
    cp "$weights" "$output/"
    weights_argument=$(basename "$weights")
fi
cat > "$output/spark-submit.example.sh" <<EOF
#!/usr/bin/env bash
# Run from this folder (or give the files' full paths / s3:// URIs). Docs/spark.md explains each option.
spark-submit \\
  --archives fruitfeatures_native.tar.gz#ffnative \\
  --py-files fruitfeatures.zip \\
  --conf spark.executorEnv.FRUITFEATURES_LIB=ffnative/lib \\
  --conf spark.yarn.appMasterEnv.FRUITFEATURES_LIB=ffnative/lib \\
  --conf spark.executorEnv.OPENBLAS_NUM_THREADS=1 \\
  run_fruitfeatures.py \\
  s3a://YOUR-BUCKET/Test s3a://YOUR-BUCKET/Results \\
  --weights $weights_argument --components 200 --partitions 21 --csv
EOF
chmod +x "$output/spark-submit.example.sh"

echo
cat "$native/MANIFEST.txt"
echo
ls -l "$output"

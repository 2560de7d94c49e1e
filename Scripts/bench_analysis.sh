#!/usr/bin/env bash
# Benchmark of `fruitfeatures predict`, `evaluate` and `report`: wall time (process start-up included) and peak memory.
#   bash Scripts/bench_analysis.sh [ROWS ...]      default: 20000 50000
# 1. Extracts a tree of 1000 distinct 100×100 photos (Scripts/make_bench_photos.py, 5 labels) with the fixture weights (the same network,
#    so the same cost as the ImageNet weights) and K = 200, then times each command on that output folder.
# 2. For each ROWS, replaces features.csv by ROWS synthetic rows (200 random features, 131 labels, as many as
#    Fruits-360) to show how loading, k-NN search, cross-validation and the report grow with the folder.
# `predict` is timed with 1 photo and with 10: the difference is the cost per photo, the rest is loading.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [[ ${#sizes[@]} -gt 0 ]] || sizes=(20000 50000)
weights=${WEIGHTS:-Fixtures/weights/mobilenet_v2_1.0_224_random.h5}
swift build -c release --product fruitfeatures >/dev/null
binary=$(swift build -c release --show-bin-path)/fruitfeatures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
photos=(Fixtures/analysis/near_copies/*.jpg)
ten=("${photos[@]}" "${photos[@]}" "${photos[@]}" "${photos[0]}")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"

tree="$work/photos"
"${PYTHON:-.venv/bin/python}" Scripts/make_bench_photos.py "$tree" 1000
"$binary" extract "$tree" --output "$work/out" --weights "$weights" --no-progress >/dev/null 2>&1

measure() {  # label, command...
    local label=$1; shift
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr"; exit 1; }
    end=$(date +%s.%N)
    printf '%-34s %8.3f s %8s MB\n' "$label" "$(echo "$end - $start" | bc -l)" "$(( $(tail -n 1 "$work/rss") / 1024 ))"
}

run_all() {  # folder, rows
    local out=$1 rows=$2
    echo "-- $rows rows of 200 features"
    measure "predict, 1 photo" "$binary" predict "${photos[0]}" --model "$out"
    measure "predict, 10 photos" "$binary" predict "${ten[@]}" --model "$out"
    measure "evaluate (5-NN, 5 folds)" "$binary" evaluate "$out"
    measure "report" "$binary" report "$out"
    printf '%-34s %8s\n' "report.html size" "$(du -h "$out/report.html" | cut -f1)"
}

run_all "$work/out" 1000
for rows in "${sizes[@]}"; do
    out="$work/out-$rows"
    cp -r "$work/out" "$out"
    rm -f "$out/evaluation.json" "$out/report.html"
    python3 - "$out/features.csv" "$rows" <<'PY'
import random, sys
path, rows = sys.argv[1], int(sys.argv[2])
random.seed(rows)
centres = [[random.gauss(0, 3) for _ in range(200)] for _ in range(131)]
with open(path, "w") as f:
    f.write("path,label," + ",".join(f"feature_{i}" for i in range(200)) + "\n")
    for r in range(rows):
        label = r % 131
        # Up to 9 significant digits, like CSVResultWriter's shortest float32 decimals.
        values = ("%.8g" % random.gauss(c, 4.0) for c in centres[label])
        f.write(f"fruits/label_{label:03d}/{r:07d}.jpg,label_{label:03d}," + ",".join(values) + "\n")
PY
    run_all "$out" "$rows"
done

#!/usr/bin/env bash
# End-to-end benchmark of `fruitfeatures extract`: images/s (start-up included) and peak memory.
#   bash Scripts/bench_extract.sh [IMAGES ...]      default: 1000 3000
# Builds a tree of IMAGES distinct 100×100 JPEGs (Scripts/make_bench_photos.py, Pillow from .venv),
# runs a plain `swift build -c release` binary on it and prints one line per size. Peak RSS must not grow
# with the number of images.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 3000)
weights=${WEIGHTS:-Fixtures/weights/mobilenet_v2_1.0_224_random.h5}
python=${PYTHON:-.venv/bin/python}
swift build -c release --product fruitfeatures >/dev/null
binary=$(swift build -c release --show-bin-path)/fruitfeatures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
printf '%-8s %-6s %-12s %-12s %-10s %s\n' images jobs "images/s" "wall s" "peak MB" "network s (all workers)"
for n in "${sizes[@]}"; do
    tree="$work/photos-$n"
    "$python" Scripts/make_bench_photos.py "$tree" "$n"
    for jobs in ${JOBS:-$(nproc)}; do
        out="$work/out-$n-$jobs"
        start=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$work/rss" "$binary" extract "$tree" --output "$out" --weights "$weights" \
            --jobs "$jobs" --no-progress 2>/dev/null
        end=$(date +%s.%N)
        wall=$(echo "$end - $start" | bc -l)
        rss_mb=$(( $(tail -n 1 "$work/rss") / 1024 ))
        network=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['seconds']['network'], 2))" "$out/summary.json")
        printf '%-8s %-6s %-12.1f %-12.2f %-10s %s\n' "$n" "$jobs" "$(echo "$n / $wall" | bc -l)" "$wall" "$rss_mb" "$network"
    done
done

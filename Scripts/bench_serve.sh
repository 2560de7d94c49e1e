#!/usr/bin/env bash
# Benchmark of the HTTP service against `fruitfeatures extract` on the same machine in the same run.
#   bash Scripts/bench_serve.sh [IMAGES]          default 2000 (100×100 JPEGs for extract's end-to-end images/s)
#   BIN_DIR=.build/release bash Scripts/bench_serve.sh   use binaries already built
#   SOAK=N bash Scripts/bench_serve.sh            also 10-second wrk rounds until N requests in all have been
#                                                 answered, RSS after each (memory over many requests; e.g.
#                                                 SOAK=100000; 0 by default)
# Prints: extract's images/s; the server's requests/s, p50 and p99 latency and non-2xx answers for
# `wrk -t1 -c16 -d10s --latency` (--timeout 30s, so slow answers count as answers) POSTing one 100×100 JPEG; the same with -c2 for a 4032×3024 photo; the server's
# RSS after each round. Needs wrk (apt-get install wrk) and Pillow in .venv (for the 4032×3024 photo).
# A benchmark, not a test: nothing here passes or fails on the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-2000}
soak=${SOAK:-0}
weights=${WEIGHTS:-Fixtures/weights/mobilenet_v2_1.0_224_random.h5}
python=${PYTHON:-.venv/bin/python}
command -v wrk >/dev/null || { echo "bench_serve: wrk is needed (apt-get install wrk)" >&2; exit 1; }
if [[ -n "${BIN_DIR:-}" ]]; then
    bin=$BIN_DIR   # binaries already built (for example by Scripts/test.sh, with -enable-testing)
else
    swift build -c release --product fruitfeatures >/dev/null
    swift build -c release --product fruitfeatures-server >/dev/null
    bin=$(swift build -c release --show-bin-path)
fi
work=$(mktemp -d)
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. extract end to end on IMAGES distinct 100×100 JPEGs.
"$python" Scripts/make_bench_photos.py "$work/photos" "$images"
start=$(date +%s.%N)
"$bin/fruitfeatures" extract "$work/photos" --output "$work/run" --weights "$weights" --no-progress 2>/dev/null
end=$(date +%s.%N)
extract_rate=$(echo "$images / ($end - $start)" | bc -l)
printf 'extract: %d images in %.2f s = %.1f images/s end to end\n' "$images" "$(echo "$end - $start" | bc -l)" "$extract_rate"

# 2. the server on that run.
"$bin/fruitfeatures-server" --model "$work/run" --weights "$weights" --port 0 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 600); do grep -q '^listening on' "$work/server.log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/server.log" | head -n 1)
[[ -n "$url" ]] || { echo "bench_serve: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
rss() { awk '/VmRSS/{printf "%d", $2 / 1024}' "/proc/$server_pid/status"; }
echo "server: $url, RSS after start-up $(rss) MB"

"$python" - "$work/phone.jpg" <<'PY'
import sys
import numpy as np
from PIL import Image
# A 4032×3024 phone-sized photo: smooth colour fields plus noise, so it compresses like a photo.
y, x = np.mgrid[0:3024, 0:4032].astype(np.float32)
rng = np.random.default_rng(0)
image = np.stack([128 + 100 * np.sin(x / 300), 128 + 100 * np.cos(y / 250), 128 + 60 * np.sin((x + y) / 500)], -1)
image += rng.normal(0, 12, image.shape)
Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90)
PY

lua() {  # a wrk script POSTing the file $1 as image/jpeg
    cat > "$work/post.lua" <<LUA
local file = io.open("$1", "rb")
wrk.method = "POST"
wrk.body = file:read("*all")
file:close()
wrk.headers["Content-Type"] = "image/jpeg"
LUA
}

round() {  # $1 label, $2 connections; prints requests/s, p50, p99, non-2xx, RSS
    wrk -t1 -c"$2" -d10s --timeout 30s --latency -s "$work/post.lua" "$url/v1/recognize" > "$work/wrk.txt"
    local rate p50 p99 bad
    rate=$(awk '/^Requests\/sec/{print $2}' "$work/wrk.txt")
    p50=$(awk '$1=="50%"{print $2}' "$work/wrk.txt")
    p99=$(awk '$1=="99%"{print $2}' "$work/wrk.txt")
    bad=$(awk '/Non-2xx/{print $NF}' "$work/wrk.txt"); bad=${bad:-0}
    errors=$(awk '/Socket errors/{print}' "$work/wrk.txt")
    printf '%-28s %8s req/s  p50 %-9s p99 %-9s non-2xx %-5s RSS %s MB %s\n' "$1" "$rate" "$p50" "$p99" "$bad" "$(rss)" "$errors"
    echo "$rate"  > "$work/last_rate"
}

lua "Fixtures/images/Apple/0_100.jpg"
round "100×100, 16 connections" 16
rate=$(cat "$work/last_rate")
printf 'server / extract: %.2f× (%.1f req/s against %.1f images/s)\n' "$(echo "$rate / $extract_rate" | bc -l)" "$rate" "$extract_rate"
answered() { grep -c ' POST /v1/recognize ' "$work/server.log" || true; }
for ((i = 1; soak > 0 && $(answered) < soak; i++)); do round "100×100, soak round $i ($(answered) so far)" 16; done
lua "$work/phone.jpg"
round "4032×3024, 2 connections" 2
round "4032×3024, 16 connections" 16
echo "requests answered: $(grep -c ' POST /v1/recognize 200 ' "$work/server.log")"

#!/usr/bin/env bash
# Builds Examples/RecognitionService (the library's public API alone, a debug build of its own) and checks
# that it answers the bundled photos as `fruitfeatures predict --json` does, from concurrent tasks.
# Needs the release build of `fruitfeatures` (Scripts/test.sh makes it first).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/fruitfeatures" extract Fixtures/images --weights Fixtures/weights/mobilenet_v2_1.0_224_random.h5 \
    --output "$work/run" --no-progress 2>/dev/null
photos=(Fixtures/images/*/*.jpg Fixtures/resize/bad/png_named.jpg Fixtures/resize/bad/truncated_header.jpg)
swift build --package-path Examples/RecognitionService
example=$(swift build --package-path Examples/RecognitionService --show-bin-path)/RecognitionService
"$example" "$work/run" "${photos[@]}" >"$work/example.tsv"
"$bin/fruitfeatures" predict "${photos[@]}" --model "$work/run" --top 3 --json >"$work/predict.jsonl" 2>/dev/null || true
python3 - "$work/example.tsv" "$work/predict.jsonl" "${photos[@]}" <<'PY'
import json, sys
example = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
predicted = {r["photo"]: r for r in map(json.loads, open(sys.argv[2]).read().splitlines())}
photos = sys.argv[3:]
assert [row[0] for row in example] == photos, f"the example answered {len(example)} lines, not one per photo in order"
answered = 0
for photo, verdict, detail in example:
    if photo in predicted:
        expected = predicted[photo]["labels"][0]
        assert verdict == expected["label"], f"{photo}: example says {verdict}, predict says {expected['label']}"
        assert abs(float(detail) - expected["share"]) < 0.005, f"{photo}: share {detail} vs {expected['share']}"
        answered += 1
    else:
        assert verdict == "error" and detail.startswith("image: "), f"{photo}: predict failed, example said {verdict} {detail}"
assert answered >= 9, f"only {answered} photos answered"
print(f"example service: {answered} photos answered as predict does, {len(photos) - answered} refused as predict does")
PY

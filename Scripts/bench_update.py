#!/usr/bin/env python3
"""Benchmark of `fruitfeatures extract --update` against a full extraction.

    .venv/bin/python Scripts/bench_update.py [--images N ...] [--jobs J]     default: --images 2000
    .venv/bin/python Scripts/bench_update.py --images 2000 --images 20000

For each N: builds a tree of N distinct 100×100 JPEGs (the fixture photos, each copy shifted and tinted by its
own seeded amount and saved by Pillow, so no two files share bytes), runs a full `fruitfeatures extract`, then
changes the tree as a growing collection changes — 5 % new photos, 2.5 % removed, 0.5 % re-encoded (same
pixels saved at another quality, so new bytes) — and runs `extract --update`. Prints both wall times (process
start-up included), their ratio and the update's counts from summary.json (a sanity check: network passes must
equal new + re-encoded), after a line naming the machine: core count, the CPU as lscpu names it (model name,
family and model, which tell Zen 3 from Zen 4 where the model name says only "AMD EPYC"), its widest SIMD
level and the kernel level FruitFeatures ran at. The goal in issue 15: the update ≤ 0.3 × the full run at
N = 2000, ≤ 0.15 × at 20 000.

Uses the release binary (`swift build -c release --product fruitfeatures` first) and the bundled random
weights unless WEIGHTS is set. Time figures are only meaningful on an otherwise idle machine.
"""
import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageChops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_photo(sources, index, quality=90):
    """A distinct photo: fixture `index % 9`, rolled by a few pixels and tinted, both from the index."""
    rng = random.Random(index)
    image = Image.open(sources[index % len(sources)]).convert("RGB")
    image = ImageChops.offset(image, rng.randrange(-8, 9), rng.randrange(-8, 9))
    tint = Image.new("RGB", image.size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    return Image.blend(image, tint, 0.08), quality


def write(tree, sources, index, quality=90):
    label = os.path.basename(os.path.dirname(sources[index % len(sources)]))
    os.makedirs(os.path.join(tree, label), exist_ok=True)
    path = os.path.join(tree, label, f"{index:07d}.jpg")
    image, quality = make_photo(sources, index, quality)
    image.save(path, quality=quality)
    return path


def timed(command):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def cpu():
    """Model name, family, model and the widest SIMD level of this machine's CPU, as lscpu (else /proc/cpuinfo)
    gives them."""
    fields = {}
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True,
                                 env={**os.environ, "LC_ALL": "C"}).stdout
        fields = {key.strip(): value.strip() for key, value in
                  (line.split(":", 1) for line in listing.splitlines() if ":" in line)}
        name, family, model = fields.get("Model name"), fields.get("CPU family"), fields.get("Model")
        flags = fields.get("Flags", "").split()
    except (OSError, subprocess.CalledProcessError):
        name = family = model = None
        flags = []
    if not (name and family and model and flags):
        with open("/proc/cpuinfo") as cpuinfo:
            first = dict(line.split(":", 1) for line in cpuinfo.read().split("\n\n")[0].splitlines() if ":" in line)
        first = {key.strip(): value.strip() for key, value in first.items()}
        name, family, model = first.get("model name", "?"), first.get("cpu family", "?"), first.get("model", "?")
        flags = first.get("flags", "").split()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE (no AVX2)"
    return f"{name} (family {family} model {model}, {simd})"


def main():
    parser = argparse.ArgumentParser(description="fruitfeatures extract --update against a full extract")
    parser.add_argument("--images", type=int, action="append", metavar="N",
                        help="photos in the tree (repeat for several sizes; default 2000)")
    parser.add_argument("--jobs", type=int, default=None, help="passed to both runs (default: the CLI's, all cores)")
    parser.add_argument("sizes", type=int, nargs="*", metavar="N", help="the same as --images N")
    arguments = parser.parse_args()
    sizes = (arguments.images or []) + arguments.sizes or [2000]
    if any(n < 40 for n in sizes):
        parser.error("N must be at least 40 (2.5 % of N removed, 0.5 % re-encoded: at least one of each)")
    jobs = ["--jobs", str(arguments.jobs)] if arguments.jobs else []
    binary = os.environ.get("FRUITFEATURES", os.path.join(ROOT, ".build", "release", "fruitfeatures"))
    weights = os.environ.get("WEIGHTS", os.path.join(ROOT, "Fixtures", "weights", "mobilenet_v2_1.0_224_random.h5"))
    sources = sorted(glob.glob(os.path.join(ROOT, "Fixtures", "images", "*", "*.jpg")))
    print(f"machine: {os.cpu_count()} cores, {cpu()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'images':>8} {'full s':>9} {'update s':>9} {'ratio':>7}  kernel level; update counts", flush=True)
    for n in sizes:
        work = tempfile.mkdtemp(prefix="ff-bench-update-")
        try:
            tree, out = os.path.join(work, "photos"), os.path.join(work, "out")
            paths = [write(tree, sources, index) for index in range(n)]
            full = timed([binary, "extract", tree, "--output", out, "--weights", weights, "--no-progress"] + jobs)
            with open(os.path.join(out, "summary.json")) as file:
                kernel_level = json.load(file).get("kernel_level", "?")
            rng = random.Random(n)
            removed = rng.sample(range(n), max(1, n * 25 // 1000))
            gone = set(removed)
            kept = [index for index in range(n) if index not in gone]
            reencoded = rng.sample(kept, max(1, n * 5 // 1000))
            for index in removed:
                os.remove(paths[index])
            for index in reencoded:
                write(tree, sources, index, quality=75)
            added = max(1, n * 5 // 100)
            for index in range(n, n + added):
                write(tree, sources, index)
            update = timed([binary, "extract", tree, "--output", out, "--update", "--no-progress"] + jobs)
            with open(os.path.join(out, "summary.json")) as file:
                counts = json.load(file)["update"]
            expected = {"new": added, "changed": len(reencoded), "removed": len(removed),
                        "network_passes": added + len(reencoded)}
            wrong = {key: (counts[key], value) for key, value in expected.items() if counts[key] != value}
            print(f"{n:>8} {full:>9.2f} {update:>9.2f} {update / full:>7.3f}  kernel level {kernel_level}; "
                  + json.dumps(counts), flush=True)
            if wrong:
                print(f"unexpected counts (got, expected): {wrong}", file=sys.stderr)
                return 1
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Compares FruitFeatures with ONNX Runtime on MobileNetV2 and MobileNetV3-Large features, on the same machine, in one run.

Run through Scripts/compare_onnx.sh (it makes the virtualenv and builds the Swift binaries), or directly:

    python Scripts/compare_onnx.py --bin-dir "$(swift build -c release --show-bin-path)" [--images 2000]

Steps (all figures go to stdout, with the load average around each timed stage):
  1. Generates --images varied 100×100 JPEGs (seeded, with Pillow) in 3 label folders.
  2. Preprocesses them exactly as the notebook: PIL Image.open(bytes).resize((224, 224)) (bicubic by default)
     → float32 → x / 127.5 − 1; writes them as raw little-endian float32 (N×224×224×3).
  3. Converts the fixture weights to ONNX with tf2onnx (in a child process, so TensorFlow's threads are gone
     before anything is timed): tf.keras MobileNetV2(alpha 1.0, 224, include_top) + load_weights(h5), cut at
     layers[-2] (the global-average-pooled 1280-d features). Checks ORT against Keras on a few inputs.
  4. --passes timed passes over all inputs, alternating every --segment images (so other load on the machine
     hits both alike) between ONNX Runtime (CPU provider, intra_op_num_threads 2, batch 32, warmed up) and
     fruitfeatures-benchmark extractor --inputs on the same images (2 workers, batch 32, BLAS single-threaded).
     Images/s (wall clock) and CPU ms/image of each pass; the median ratio of paired segments.
  4b. MobileNetV3-Large (--v3-weights, default the committed alpha-1.0 224 fixture with random weights): the same
     Keras model converted with tf2onnx (MobileNetV3Large(alpha 1.0, include_top=False, pooling="avg",
     include_preprocessing=False: the network on the [-1, 1] values both sides take; the Rescaling layer Keras
     adds by default has no weights and computes those values from [0, 255]) + load_weights; checked against
     Keras; then the same alternating passes as step 4 (ORT vs fruitfeatures-benchmark extractor --weights V3).
     --v3-only runs steps 1 and 4b alone; --no-v3 skips 4b.
  5. fruitfeatures extract on the JPEG tree (default --jobs), --extract-runs times: wall clock including
     start-up, and peak RSS; each run right after an ORT pass over the same images (paired ratio).
  6. Checks FruitFeatures' features against ORT's on the same few inputs.
  7. Phone photos (--phone-images, default 72; 0 skips): 4032×3024 JPEGs of 2–5 MB made deterministically from
     scikit-learn's sample photographs (china.jpg, flower.jpg: a random crop, possibly mirrored, enlarged with
     Pillow's bicubic filter, mild noise, quality 90). Pillow's Image.open(bytes).resize((224, 224)) on one core
     (this process, one thread) against fruitfeatures extract on the same files (default --jobs), alternated
     --phone-runs times; images/s per core of each and their ratio (paired per run).
  8. Summary: every ratio measured above, the CPU (lscpu model name and flags) and the kernel level that ran.
Exits non-zero if any feature check is over 1e-4.
"""

import argparse
import io
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from machine import machine_lines  # noqa: E402  (Scripts/ is on sys.path)
from make_bench_photos import photo as synthetic_photo  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_WEIGHTS = os.path.join(ROOT, "Fixtures", "weights", "mobilenet_v2_1.0_224_random.h5")
DEFAULT_V3_WEIGHTS = os.path.join(ROOT, "Fixtures", "weights", "keras3", "mobilenet_v3_large_1.0_legacy.h5")
V3_FEATURES = 960
SIZE = 224
FEATURES = 1280
LABELS = ["apple", "banana", "cherry"]
CHECK_IMAGES = 8
TOLERANCE = 1e-4


def say(*args):
    print(*args, flush=True)


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --- inputs -----------------------------------------------------------------------------------------


def make_tree(tree, count, seed):
    """Writes `count` JPEGs into tree/<label>/NNNNNN.jpg; returns their paths in a fixed order."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        folder = os.path.join(tree, LABELS[index % len(LABELS)])
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{index:06d}.jpg")
        synthetic_photo(rng).save(path, "JPEG", quality=int(rng.integers(75, 96)))
        paths.append(path)
    return paths


def preprocess(path):
    """The notebook's preprocessing: PIL resize to 224×224 (default filter), then x / 127.5 − 1."""
    with open(path, "rb") as f:
        image = Image.open(io.BytesIO(f.read())).resize((SIZE, SIZE))
    return np.asarray(image, dtype=np.float32) / 127.5 - 1.0


def write_inputs(paths, destination):
    """Writes every preprocessed image to `destination` (raw little-endian float32), one at a time."""
    with open(destination, "wb") as f:
        for path in paths:
            f.write(preprocess(path).astype("<f4").tobytes())


def read_inputs(path):
    return np.fromfile(path, dtype="<f4").reshape(-1, SIZE, SIZE, 3)


# --- phone photos ---------------------------------------------------------------------------------


PHONE_SIZE = (4032, 3024)


def sample_photographs():
    """scikit-learn's two sample photographs (427×640 RGB, shipped inside the package)."""
    from sklearn.datasets import load_sample_image
    return [Image.fromarray(load_sample_image(name), "RGB") for name in ("china.jpg", "flower.jpg")]


def make_phone_photos(folder, count, seed):
    """`count` 4032×3024 JPEGs (quality 90, 2–5 MB) from the sample photographs: a random crop of 60–100 %
    of the photo, mirrored half of the time, enlarged with Pillow's bicubic filter, plus mild noise (σ 4–7)
    so the files decode like camera photos, not like flat synthetic ones. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    sources = sample_photographs()
    paths = []
    for index in range(count):
        source = sources[index % len(sources)]
        width, height = source.size
        share = rng.uniform(0.6, 1.0)
        w, h = int(width * share), int(height * share)
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        photo = source.crop((x0, y0, x0 + w, y0 + h))
        if rng.uniform() < 0.5:
            photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        photo = photo.resize(PHONE_SIZE, Image.BICUBIC)
        pixels = np.asarray(photo, dtype=np.float32)
        pixels += rng.normal(0.0, rng.uniform(4.0, 7.0), pixels.shape).astype(np.float32)
        label = LABELS[index % len(LABELS)]
        os.makedirs(os.path.join(folder, label), exist_ok=True)
        path = os.path.join(folder, label, f"phone_{index:04d}.jpg")
        Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB").save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def time_pillow(paths):
    """Images/s of Pillow's open + resize to 224×224 (default filter, bicubic) on one core: this process,
    one thread, each file read into memory first (as the Spark job's binaryFile column holds it); and CPU
    milliseconds per image."""
    cpu = process_cpu_seconds()
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as f:
            content = f.read()
        Image.open(io.BytesIO(content)).resize((SIZE, SIZE))
    return len(paths) / (time.perf_counter() - start), 1000 * (process_cpu_seconds() - cpu) / len(paths)


def time_extract(cli, tree, out_dir, weights, rss_file):
    """images/s of a whole fruitfeatures extract run (default --jobs), its peak RSS and summary.json."""
    shutil.rmtree(out_dir, ignore_errors=True)
    start = time.perf_counter()
    run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file, cli, "extract", tree, "--output", out_dir,
         "--weights", weights, "--no-progress"])
    wall = time.perf_counter() - start
    with open(rss_file) as f:
        fields = f.read().split()[-3:]
    peak, cpu = int(fields[0]) / 1024, float(fields[1]) + float(fields[2])
    summary = {"cpu_seconds": cpu}
    summary_path = os.path.join(out_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary.update(json.load(f))
    return wall, peak, summary


# --- conversion (child process: TensorFlow stays out of the timed process) -----------------------------


def keras_features_model(architecture, weights):
    """The Keras model whose output is the features FruitFeatures computes, on [-1, 1] inputs.

    mobilenet_v2: MobileNetV2(alpha 1.0, include_top) + load_weights, cut at layers[-2] (the pooled 1280-d output).
    mobilenet_v3_large: MobileNetV3Large(alpha 1.0, include_top=False, pooling="avg") without its Rescaling layer
    (include_preprocessing=False: no weights, it only maps [0, 255] to [-1, 1]) + load_weights."""
    import keras
    if architecture == "mobilenet_v2":
        from keras.applications import MobileNetV2
        model = MobileNetV2(alpha=1.0, input_shape=(SIZE, SIZE, 3), include_top=True, weights=None)
        model.load_weights(weights)
        return keras.Model(inputs=model.input, outputs=model.layers[-2].output)
    from keras.applications import MobileNetV3Large
    model = MobileNetV3Large(input_shape=(SIZE, SIZE, 3), alpha=1.0, include_top=False, pooling="avg",
                             weights=None, include_preprocessing=False)
    model.load_weights(weights)
    return model


def convert(architecture, weights, onnx_path, check_inputs, keras_features):
    """Converts the features model to ONNX (opset 17) and writes Keras' features of `check_inputs`."""
    import keras
    import tensorflow as tf
    import tf2onnx

    features = keras_features_model(architecture, weights)
    spec = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name="input"),)
    tf2onnx.convert.from_keras(features, input_signature=spec, opset=17, output_path=onnx_path)
    x = read_inputs(check_inputs)
    np.asarray(features(x, training=False), dtype="<f4").tofile(keras_features)
    print(json.dumps({"tensorflow": tf.__version__, "keras": keras.__version__, "tf2onnx": tf2onnx.__version__,
                      "opset": 17}))


# --- timing -----------------------------------------------------------------------------------------


def ort_session(onnx_path, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])


def ort_features(session, x, batch):
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def process_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def warm_up_ort(session, x, batch):
    name = session.get_inputs()[0].name
    for i in range(0, min(len(x), 2 * batch), batch):
        session.run(None, {name: x[i:i + batch]})


def time_ort(session, x, batch):
    """Images/s of one pass over all of `x`, and process CPU milliseconds per image (ORT's idle
    intra-op threads spin for a while by default, which counts as CPU time)."""
    name = session.get_inputs()[0].name
    cpu = process_cpu_seconds()
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        session.run(None, {name: x[i:i + batch]})
    seconds = time.perf_counter() - start
    return len(x) / seconds, 1000 * (process_cpu_seconds() - cpu) / len(x)


def run(command, **kwargs):
    result = subprocess.run(command, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}")
    return result.stdout


BENCH_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(single|threaded)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s*$")


def benchmark_rows(output):
    return [(int(m[1]), int(m[2]), m[3], float(m[4]), float(m[6]), int(m[7]))
            for m in map(BENCH_ROW.match, output.splitlines()) if m]


def header_value(output, prefix):
    for line in output.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return "unknown"


def summarize(rates):
    return f"best {max(rates):7.1f}  median {statistics.median(rates):7.1f}  (passes: " + \
        ", ".join(f"{r:.1f}" for r in rates) + ")"


def check(what, expected, actual):
    diff = float(np.abs(expected - actual).max())
    scale = float(np.abs(expected).max())
    verdict = "ok" if diff <= TOLERANCE else "FAIL"
    say(f"  {what:<34} max |diff| {diff:.2e}  (features up to {scale:.2f})  {verdict}")
    return diff <= TOLERANCE


# --- main -------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", required=True, help="folder of the release fruitfeatures binaries")
    parser.add_argument("--images", type=int, default=2000, help="JPEGs to generate (default 2000)")
    parser.add_argument("--passes", type=int, default=5, help="timed passes of ORT and of the extractor (default 5)")
    parser.add_argument("--segment", type=int, default=250,
                        help="images timed on one side before switching to the other (default 250; 0: whole pass)")
    parser.add_argument("--extract-runs", type=int, default=2, help="runs of fruitfeatures extract (default 2)")
    parser.add_argument("--batch", type=int, default=32, help="batch size of ORT and of the extractor")
    parser.add_argument("--threads", type=int, default=2, help="ORT intra_op_num_threads")
    parser.add_argument("--workers", type=int, default=2, help="extractor workers (BLAS single-threaded each)")
    parser.add_argument("--phone-images", type=int, default=72,
                        help="4032×3024 JPEGs for the phone-photo benchmark (default 72; 0 skips it)")
    parser.add_argument("--phone-runs", type=int, default=3,
                        help="alternations of Pillow and fruitfeatures extract on the phone photos (default 3)")
    parser.add_argument("--phone-only", action="store_true",
                        help="run only the phone-photo benchmark (no TensorFlow, ONNX Runtime or 100×100 inputs)")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument("--v3-weights", default=DEFAULT_V3_WEIGHTS,
                        help="MobileNetV3-Large alpha-1.0 Keras weights for step 4b (default: the committed fixture)")
    parser.add_argument("--v3-only", action="store_true", help="run only steps 1 and 4b (MobileNetV3-Large vs ORT)")
    parser.add_argument("--no-v3", action="store_true", help="skip step 4b")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", help="working folder (default: a temporary one, removed at the end)")
    parser.add_argument("--convert-only", nargs=5,
                        metavar=("ARCHITECTURE", "WEIGHTS", "ONNX", "CHECK_INPUTS", "KERAS_OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.convert_only:
        convert(*args.convert_only)
        return

    work = args.work or tempfile.mkdtemp(prefix="compare-onnx-")
    os.makedirs(work, exist_ok=True)
    try:
        if args.phone_only:
            ok = True
            say_machine()
            phone = phone_photos(args, work)
            say("\n[7] summary")
            say_machine()
            say_phone(phone)
        else:
            import onnxruntime as ort
            ok = compare(args, work, ort.__version__)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if not ok:
        raise SystemExit("feature check over 1e-4: the models differ")


def say_machine():
    for line in machine_lines():
        say(line)


def phone_photos(args, work):
    """Step 7: Pillow open+resize on one core vs fruitfeatures extract, per core. Returns the figures."""
    if args.phone_images <= 0:
        return None
    cli = os.path.join(args.bin_dir, "fruitfeatures")
    weights = os.path.abspath(args.weights)
    tree = os.path.join(work, "phone")
    say(f"\n[6] phone photos: {args.phone_images} JPEGs of {PHONE_SIZE[0]}×{PHONE_SIZE[1]} from scikit-learn's "
        f"sample photographs (seed {args.seed})")
    paths = make_phone_photos(tree, args.phone_images, args.seed)
    sizes = [os.path.getsize(p) / 1e6 for p in paths]
    say(f"  file sizes {min(sizes):.1f}–{max(sizes):.1f} MB (median {statistics.median(sizes):.1f})")
    cores = os.cpu_count() or 1
    pillow_rates, extract_rates, paired, peaks, level, preprocess = [], [], [], [], "unknown", []
    cpu_paired = []
    time_pillow(paths[:2])  # warm the page cache and Pillow's code
    for index in range(args.phone_runs):
        before = load_average()
        pillow, pillow_cpu = time_pillow(paths)
        wall, peak, summary = time_extract(cli, tree, os.path.join(work, "phone-out"), weights,
                                           os.path.join(work, "phone-rss"))
        per_core = len(paths) / wall / cores
        pillow_rates.append(pillow)
        extract_rates.append(per_core)
        paired.append(per_core / pillow)
        peaks.append(peak)
        level = summary.get("feature_model", {}).get("kernel_level", level)
        extract_cpu = 1000 * summary["cpu_seconds"] / len(paths)
        cpu_paired.append(pillow_cpu / extract_cpu)
        processed = summary.get("images", {}).get("processed", 0)
        if processed:
            preprocess.append(1000 * summary.get("seconds", {}).get("preprocess", 0) / processed)
        say(f"  run {index + 1}: Pillow open+resize {pillow:5.1f} images/s on one core; extract "
            f"{len(paths) / wall:5.1f} images/s on {cores} cores = {per_core:5.1f} per core ({wall:.1f} s, "
            f"peak RSS {peak:.0f} MB); ratio per core {paired[-1]:.2f}; CPU ms/image Pillow {pillow_cpu:.1f}, "
            f"extract {extract_cpu:.1f} (start-up and PCA included): ratio {cpu_paired[-1]:.2f}; "
            f"load {before} → {load_average()}")
    return {"pillow": pillow_rates, "extract": extract_rates, "paired": paired, "peak": max(peaks),
            "level": level, "preprocess_ms": preprocess, "cores": cores, "cpu_paired": cpu_paired}


def say_phone(phone):
    if not phone:
        return
    say(f"  phone photos        Pillow open+resize {max(phone['pillow']):.1f} images/s on one core "
        f"[{statistics.median(phone['pillow']):.1f}]; extract {max(phone['extract']):.1f} per core "
        f"[{statistics.median(phone['extract']):.1f}] (kernel level {phone['level']}, decode+resize "
        f"{min(phone['preprocess_ms'] or [0]):.1f} ms/image summed over workers, peak RSS {phone['peak']:.0f} MB)")
    say(f"  phone / Pillow      {statistics.median(phone['paired']):5.2f} per core (median of "
        f"{len(phone['paired'])} paired runs; best {max(phone['paired']):.2f})   target ≥ 2; in CPU time per image "
        f"{statistics.median(phone['cpu_paired']):.2f} (less load-sensitive)")


def convert_in_child(args, architecture, weights, onnx_path, check_inputs, keras_out):
    """Runs `convert` in a child process (this script with --convert-only), so TensorFlow's threads are gone
    before anything is timed; returns the versions it reports."""
    output = run([sys.executable, os.path.abspath(__file__), "--bin-dir", args.bin_dir, "--convert-only",
                  architecture, weights, onnx_path, check_inputs, keras_out])
    return json.loads(output.strip().splitlines()[-1])


def check_all(keras_features, ort_features_, swift_features):
    """Keras, ORT and FruitFeatures features of the same inputs, pairwise; True when all are within 1e-4."""
    ok = check("ONNX Runtime vs Keras", keras_features, ort_features_)
    ok &= check("FruitFeatures vs ONNX Runtime", ort_features_, swift_features)
    ok &= check("FruitFeatures vs Keras", keras_features, swift_features)
    return ok


def paired_passes(args, session, benchmark, weights, x, segments, ort_version, step):
    """--passes passes over `x`, alternating segment by segment between ORT and the extractor (so that other load
    on the machine, which changes from second to second, hits both alike); prints each pass, returns the figures."""
    segment = segments[0][1] - segments[0][0]
    say(f"\n{step} {args.passes} passes over the same {len(x)} inputs, batch {args.batch}, alternating every "
        f"{segment} images (ORT, then the extractor, on each segment):\n"
        f"  ONNX Runtime {ort_version}: CPU provider, intra_op_num_threads={args.threads}, inter_op 1, "
        f"sequential, all graph optimizations; warmed up once on 2 batches\n"
        f"  extractor: fruitfeatures-benchmark extractor --weights {os.path.basename(weights)} --inputs SEGMENT, "
        f"{args.workers} workers, BLAS single-threaded per worker; warmed up on one batch per worker for each segment")
    warm_up_ort(session, x, args.batch)
    ort_rates, extractor_rates, ort_cpus, extractor_cpus, paired = [], [], [], [], []
    openblas, machine, rss, kernel_level = "unknown", "unknown", 0, "unknown"
    for index in range(args.passes):
        before = load_average()
        seconds = {"ort": 0.0, "extractor": 0.0}
        cpu = {"ort": 0.0, "extractor": 0.0}
        pass_ratios = []
        for first, end, path in segments:
            count = end - first
            ort_rate, ort_cpu = time_ort(session, x[first:end], args.batch)
            output = run([benchmark, "extractor", "--weights", weights, "--inputs", path,
                          "--batch-sizes", str(args.batch), "--workers", str(args.workers), "--blas", "single"])
            rows = benchmark_rows(output)
            if len(rows) != 1:
                sys.stderr.write(output)
                raise SystemExit("could not read the benchmark's table")
            _, _, _, rate, extractor_cpu, segment_rss = rows[0]
            seconds["ort"] += count / ort_rate
            seconds["extractor"] += count / rate
            cpu["ort"] += ort_cpu * count
            cpu["extractor"] += extractor_cpu * count
            pass_ratios.append(rate / ort_rate)
            rss = max(rss, segment_rss)
            openblas = "OpenBLAS " + header_value(output, "OpenBLAS:").removeprefix("OpenBLAS ")
            machine = header_value(output, "machine:")
            level_match = re.search(r"kernel level: (\w+)", machine)
            kernel_level = level_match[1] if level_match else "unknown"
        ort_rates.append(len(x) / seconds["ort"])
        extractor_rates.append(len(x) / seconds["extractor"])
        ort_cpus.append(cpu["ort"] / len(x))
        extractor_cpus.append(cpu["extractor"] / len(x))
        paired.extend(pass_ratios)
        say(f"  pass {index + 1}: ORT {ort_rates[-1]:6.1f} images/s ({ort_cpus[-1]:5.1f} CPU ms/image)   "
            f"extractor {extractor_rates[-1]:6.1f} images/s ({extractor_cpus[-1]:5.1f} CPU ms/image)   "
            f"segment ratios {min(pass_ratios):.2f}–{max(pass_ratios):.2f}   load {before} → {load_average()}")
    say(f"  ONNX Runtime images/s: {summarize(ort_rates)}")
    say(f"  extractor images/s:    {summarize(extractor_rates)}")
    say(f"  extractor / ORT on the same segment, median of {len(paired)}: {statistics.median(paired):.2f}")
    say(f"  benchmark: {machine}; {openblas}; peak RSS {rss} MB (includes the memory-mapped segment)")
    return {"ort": ort_rates, "extractor": extractor_rates, "ort_cpu": ort_cpus, "extractor_cpu": extractor_cpus,
            "paired": paired, "openblas": openblas, "machine": machine, "rss": rss, "level": kernel_level}


def mobilenet_v3_step(args, work, benchmark, x, check_inputs, segments, ort_version):
    """Step 4b: MobileNetV3-Large converted with tf2onnx, checked, then timed against the extractor."""
    weights = os.path.abspath(args.v3_weights)
    say(f"\n[4b] MobileNetV3-Large: converting {os.path.basename(weights)} to ONNX with tf2onnx (child process)")
    onnx_path = os.path.join(work, "mobilenet_v3_large_features.onnx")
    keras_out = os.path.join(work, "keras_v3.f32")
    versions = convert_in_child(args, "mobilenet_v3_large", weights, onnx_path, check_inputs, keras_out)
    say(f"  → {os.path.getsize(onnx_path) / 2**20:.1f} MiB ONNX (opset {versions['opset']}); tensorflow "
        f"{versions['tensorflow']}, keras {versions['keras']}, tf2onnx {versions['tf2onnx']}")
    session = ort_session(onnx_path, args.threads)
    check_x = read_inputs(check_inputs)
    keras_features = np.fromfile(keras_out, dtype="<f4").reshape(len(check_x), -1)
    ort_check = ort_features(session, check_x, args.batch)
    assert ort_check.shape == (len(check_x), V3_FEATURES), ort_check.shape
    swift_out = os.path.join(work, "swift_v3.f32")
    run([benchmark, "extractor", "--weights", weights, "--inputs", check_inputs, "--features-output", swift_out,
         "--batch-sizes", str(len(check_x)), "--workers", "1", "--blas", "single"])
    swift_features = np.fromfile(swift_out, dtype="<f4").reshape(len(check_x), -1)
    say(f"  same model? features of the first {len(check_x)} inputs")
    ok = check_all(keras_features, ort_check, swift_features)
    timing = paired_passes(args, session, benchmark, weights, x, segments, ort_version, "  MobileNetV3-Large:")
    timing.update(ok=ok, versions=versions)
    del session
    return timing


def say_v3(v3):
    if not v3:
        return
    ort_best, extractor_best = max(v3["ort"]), max(v3["extractor"])
    say(f"  MobileNetV3-Large   ORT {ort_best:7.1f} images/s [{statistics.median(v3['ort']):.1f}]; extractor "
        f"{extractor_best:7.1f} images/s [{statistics.median(v3['extractor']):.1f}] (kernel level {v3['level']})")
    say(f"  V3 extractor / ORT  {extractor_best / ort_best:5.2f} "
        f"[{statistics.median(v3['extractor']) / statistics.median(v3['ort']):.2f}]   target ≥ 1.0; median over "
        f"paired segments {statistics.median(v3['paired']):.2f}; CPU ms/image ORT {min(v3['ort_cpu']):.1f}, "
        f"extractor {min(v3['extractor_cpu']):.1f}")


def compare(args, work, ort_version):
    benchmark = os.path.join(args.bin_dir, "fruitfeatures-benchmark")
    cli = os.path.join(args.bin_dir, "fruitfeatures")
    weights = os.path.abspath(args.weights)
    say_machine()

    say(f"\n[1] generating {args.images} JPEGs (100×100, seed {args.seed}) and preprocessing them")
    tree = os.path.join(work, "photos")
    paths = make_tree(tree, args.images, args.seed)
    inputs = os.path.join(work, "inputs.f32")
    write_inputs(paths, inputs)
    x = read_inputs(inputs)
    check_inputs = os.path.join(work, "check.f32")
    x[:CHECK_IMAGES].astype("<f4").tofile(check_inputs)
    say(f"  {len(x)} inputs, {os.path.getsize(inputs) / 2**20:.0f} MiB, values in [{x.min():.3f}, {x.max():.3f}]")
    # The extractor reads each segment from its own file; ORT slices the same images from `x`.
    segment = args.segment if args.segment > 0 else len(x)
    segments = []
    for first in range(0, len(x), segment):
        path = os.path.join(work, f"segment-{first // segment:03d}.f32")
        x[first:first + segment].astype("<f4").tofile(path)
        segments.append((first, min(first + segment, len(x)), path))
    os.remove(inputs)

    if args.v3_only:
        v3 = mobilenet_v3_step(args, work, benchmark, x, check_inputs, segments, ort_version)
        say("\n[7] summary (best pass of each: the least disturbed by other load; medians in brackets)")
        say_machine()
        say(f"  versions            onnxruntime {ort_version}, tf2onnx {v3['versions']['tf2onnx']}, "
            f"tensorflow {v3['versions']['tensorflow']}; {v3['openblas']}")
        say_v3(v3)
        return v3["ok"]

    say("\n[2] converting the weights to ONNX with tf2onnx (child process)")
    onnx_path = os.path.join(work, "mobilenet_v2_features.onnx")
    keras_out = os.path.join(work, "keras.f32")
    versions = convert_in_child(args, "mobilenet_v2", weights, onnx_path, check_inputs, keras_out)
    say(f"  {os.path.basename(weights)} → {os.path.getsize(onnx_path) / 2**20:.1f} MiB ONNX (opset {versions['opset']}); "
        f"tensorflow {versions['tensorflow']}, keras {versions['keras']}, tf2onnx {versions['tf2onnx']}")

    session = ort_session(onnx_path, args.threads)
    check_x = x[:CHECK_IMAGES]
    keras_features = np.fromfile(keras_out, dtype="<f4").reshape(len(check_x), -1)
    ort_check = ort_features(session, check_x, args.batch)
    assert ort_check.shape == (len(check_x), FEATURES), ort_check.shape

    swift_out = os.path.join(work, "swift.f32")
    run([benchmark, "extractor", "--weights", weights, "--inputs", check_inputs, "--features-output", swift_out,
         "--batch-sizes", str(CHECK_IMAGES), "--workers", "1", "--blas", "single"])

    timing = paired_passes(args, session, benchmark, weights, x, segments, ort_version, "[3]")
    ort_rates, extractor_rates, ort_cpus, extractor_cpus, paired = (
        timing["ort"], timing["extractor"], timing["ort_cpu"], timing["extractor_cpu"], timing["paired"])
    openblas, machine, rss, kernel_level = timing["openblas"], timing["machine"], timing["rss"], timing["level"]

    v3 = None if args.no_v3 else mobilenet_v3_step(args, work, benchmark, x, check_inputs, segments, ort_version)

    say(f"\n[4] fruitfeatures extract on the {len(paths)} JPEGs (default --jobs, start-up included), "
        f"{args.extract_runs} run(s), each right after an ORT pass over the same images for a paired ratio")
    end_to_end_rates, peaks, end_to_end_paired = [], [], []
    for index in range(args.extract_runs):
        ort_rate, _ = time_ort(session, x, args.batch)
        out_dir = os.path.join(work, "extract")
        shutil.rmtree(out_dir, ignore_errors=True)
        rss_file = os.path.join(work, "rss")
        before = load_average()
        start = time.perf_counter()
        run(["/usr/bin/time", "-f", "%M", "-o", rss_file, cli, "extract", tree, "--output", out_dir,
             "--weights", weights, "--no-progress"])
        wall = time.perf_counter() - start
        with open(rss_file) as f:
            peaks.append(int(f.read().split()[-1]) / 1024)
        end_to_end_rates.append(len(paths) / wall)
        end_to_end_paired.append(end_to_end_rates[-1] / ort_rate)
        seconds = {}
        summary_path = os.path.join(out_dir, "summary.json")
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                seconds = json.load(f).get("seconds", {})
        stages = ", ".join(f"{k} {v:.2f}" for k, v in seconds.items() if isinstance(v, (int, float)))
        say(f"  run {index + 1}: {end_to_end_rates[-1]:6.1f} images/s ({wall:.2f} s wall), peak RSS {peaks[-1]:.0f} MB, "
            f"load {before} → {load_average()}; ORT just before: {ort_rate:.1f} images/s, "
            f"ratio {end_to_end_paired[-1]:.2f}")
        if stages:
            say(f"    stages (s, summed over workers where parallel): {stages}")
    end_to_end, peak_mb = max(end_to_end_rates), max(peaks)
    del session

    say(f"\n[5] same model? features of the first {len(check_x)} inputs")
    swift_features = np.fromfile(swift_out, dtype="<f4").reshape(len(check_x), -1)
    ok = check_all(keras_features, ort_check, swift_features)

    phone = phone_photos(args, work)

    ort_best, extractor_best = max(ort_rates), max(extractor_rates)
    avx512 = kernel_level == "avx512"
    extractor_target = "≥ 1.5 (AVX-512)" if avx512 else "≥ 1.25 (AVX2)"
    end_to_end_target = "≥ 1.2 (AVX-512)" if avx512 else "≥ 0.9"
    say("\n[7] summary (best pass or run of each: the least disturbed by other load; medians in brackets)")
    say_machine()
    say(f"  kernel level        {kernel_level} (fruitfeatures-benchmark's header)")
    say(f"  versions            onnxruntime {ort_version}, tf2onnx {versions['tf2onnx']}, "
        f"tensorflow {versions['tensorflow']}; {openblas}")
    say(f"  ONNX Runtime        {ort_best:7.1f} images/s [{statistics.median(ort_rates):.1f}]")
    say(f"  extractor           {extractor_best:7.1f} images/s [{statistics.median(extractor_rates):.1f}]")
    say(f"  end to end          {end_to_end:7.1f} images/s (best of {len(end_to_end_rates)} run(s))")
    say(f"  extractor / ORT     {extractor_best / ort_best:5.2f} "
        f"[{statistics.median(extractor_rates) / statistics.median(ort_rates):.2f}]   target {extractor_target} "
        f"(median of paired segments); median over segments {statistics.median(paired):.2f}")
    say(f"  end to end / ORT    {end_to_end / ort_best:5.2f} "
        f"[{end_to_end / statistics.median(ort_rates):.2f}]   target {end_to_end_target}; "
        f"paired with the ORT pass just before {statistics.median(end_to_end_paired):.2f}")
    say(f"  CPU ms/image        ORT {min(ort_cpus):.1f}, extractor {min(extractor_cpus):.1f} (least of the passes): "
        f"ratio {min(ort_cpus) / min(extractor_cpus):.2f} (less load-sensitive; ORT's includes its threads' spinning)")
    say(f"  peak RSS (extract)  {peak_mb:5.0f} MB   target < 400 MB")
    say_v3(v3)
    say_phone(phone)
    return ok and (v3 is None or v3["ok"])


if __name__ == "__main__":
    main()

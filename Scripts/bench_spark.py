#!/usr/bin/env python3
"""Images per second of the same pipeline three ways, on N generated images (copies of Fixtures/images):

  cli          fruitfeatures extract (Swift, one process)
  spark        python -m fruitfeatures.spark in local[C] (PySpark + the FruitFeatures library, no TensorFlow)
  reference    the reference notebook's job in local[C]: PySpark + a TensorFlow pandas UDF + pyspark.ml PCA
               (only with --reference; needs tensorflow and pillow in this Python)
  library      the Python binding alone, one thread, features only; then one thread per core at once (what
               Spark's tasks, one per core, can do at best)

Each pipeline runs in its own process and is timed end to end (start-up, JVM, reading, features, PCA, writing),
in wall time and in CPU time of the whole process tree.

    .venv/bin/python Scripts/bench_spark.py [--images 2000] [--cores 2] [--components 200] [--reference]
        [--weights FILE] [--partitions P] [--max-records-per-batch N] [--runs R] [--work DIR]

Needs `swift build -c release` first (the CLI and libfruitfeatures_c). Prints a Markdown table.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterator

from machine import machine_lines  # Scripts/ is on sys.path when this script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_DIR = os.path.join(ROOT, "python")
FIXTURE_WEIGHTS = os.path.join(ROOT, "Fixtures", "weights", "mobilenet_v2_1.0_224_random.h5")
CLI = os.environ.get("FRUITFEATURES", os.path.join(ROOT, ".build", "release", "fruitfeatures"))


def generate_images(directory, count):
    """`count` distinct 100×100 JPEGs (like Fruits-360) in label folders: Scripts/make_bench_photos.py."""
    subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "make_bench_photos.py"), directory, str(count)],
                   check=True)


class TreeCPU:
    """CPU seconds used by a process and all its descendants, sampled from /proc every `interval` seconds.

    getrusage(RUSAGE_CHILDREN) would miss the JVM and its Python workers (PySpark does not wait for them), so
    each live process's own user + system time is read while it runs; the last sample of each process counts.
    A process that lives less than `interval` is missed.
    """

    def __init__(self, root_pid, interval=0.2):
        self.root_pid = root_pid
        self.interval = interval
        self.seen = {}  # (pid, start time) → CPU seconds
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self):
        parents = {}
        times = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15, starttime = 22.
            pid = int(entry)
            parents[pid] = int(fields[1])
            times[pid] = ((int(fields[11]) + int(fields[12])) / self.ticks, fields[19])
        tree = {self.root_pid}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        for pid in tree:
            if pid in times:
                cpu, start = times[pid]
                self.seen[(pid, start)] = cpu

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def stop(self):
        self.sample()
        self.done.set()
        self.thread.join()
        return sum(self.seen.values())


def timed(command, env=None):
    """(wall seconds, CPU seconds) of a command and all its descendants (the JVM, the Python workers).

    CPU time is the steadier figure on a shared machine: other processes lengthen the wall time, not the CPU time.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu = TreeCPU(process.pid)
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    cpu_seconds = cpu.stop()
    if process.returncode != 0:
        sys.stderr.write(stdout[-4000:] + stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return seconds, cpu_seconds


def spark_environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PYTHON_DIR, env.get("PYTHONPATH")] if p)
    env["PYSPARK_PYTHON"] = sys.executable
    return env


# ------------------------------------------------------------------------------------------------------------
# The reference notebook's job (TensorFlow), run in a child process: bench_spark.py --reference-job ...
# ------------------------------------------------------------------------------------------------------------

def reference_job(input_dir, output, weights, components, master, partitions, max_records):
    import io

    import numpy as np
    import pandas as pd
    from pyspark.ml.feature import PCA
    from pyspark.ml.linalg import Vectors, VectorUDT
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, element_at, pandas_udf, split, udf
    from pyspark.sql.types import ArrayType, FloatType

    spark = (SparkSession.builder.master(master).appName("reference-notebook")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(max_records)).getOrCreate())
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")

    import tensorflow as tf  # noqa: F401  (the notebook imports it on the driver)
    from tensorflow.keras import Model
    from tensorflow.keras.applications.mobilenet_v2 import MobileNetV2

    images = (spark.read.format("binaryFile").option("pathGlobFilter", "*.jpg")
              .option("recursiveFileLookup", "true").load(input_dir))
    images = images.withColumn("label", element_at(split(images["path"], "/"), -2))

    # The notebook downloads the ImageNet weights; the benchmark loads the same file as the other pipelines.
    model = MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
    model.load_weights(weights)
    new_model = Model(inputs=model.input, outputs=model.layers[-2].output)
    broadcast_weights = sc.broadcast(new_model.get_weights())

    def model_fn():
        from tensorflow.keras import Model
        from tensorflow.keras.applications.mobilenet_v2 import MobileNetV2
        model = MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
        for layer in model.layers:
            layer.trainable = False
        new_model = Model(inputs=model.input, outputs=model.layers[-2].output)
        new_model.set_weights(broadcast_weights.value)
        return new_model

    def preprocess(content):
        from PIL import Image
        from tensorflow.keras.applications.mobilenet_v2 import preprocess_input
        from tensorflow.keras.preprocessing.image import img_to_array
        img = Image.open(io.BytesIO(content)).resize([224, 224])
        arr = img_to_array(img)
        return preprocess_input(arr)

    def featurize_series(model, content_series):
        batch = np.stack(content_series.map(preprocess))
        preds = model.predict(batch, verbose=0)
        return pd.Series([p.flatten() for p in preds])

    # PandasUDFType.SCALAR_ITER in today's spelling (type hints).
    @pandas_udf("array<float>")
    def featurize_udf(content_series_iter: Iterator[pd.Series]) -> Iterator[pd.Series]:
        model = model_fn()
        for content_series in content_series_iter:
            yield featurize_series(model, content_series)

    source = images.repartition(partitions) if partitions else images
    features_df = source.select(col("path"), col("label"), featurize_udf("content").alias("features"))
    array_to_vector = udf(lambda x: Vectors.dense(x), VectorUDT())
    features_df = features_df.withColumn("features_vector", array_to_vector(features_df["features"]))
    pca_model = PCA(k=components, inputCol="features_vector", outputCol="reduced_features").fit(features_df)
    final_df = pca_model.transform(features_df).select("path", "label", "reduced_features")
    vector_to_array = udf(lambda v: v.toArray().tolist(), ArrayType(FloatType()))
    final_df = final_df.withColumn("features", vector_to_array(final_df["reduced_features"])).drop("reduced_features")
    final_df.write.mode("overwrite").parquet(output)
    spark.stop()


def measure(options, work, images, components, master, partitions, reference):
    """One run of each pipeline, printed as a table; returns its ratios (end to end, features per core against
    the binding alone, against the binding on every core, against the CLI)."""
    n = options.images
    rows = []

    cli_seconds, cli_cpu = timed([CLI, "extract", images, "-o", os.path.join(work, "cli"), "--weights", options.weights,
                         "--components", str(components), "--jobs", str(options.cores), "--no-progress",
                         "--overwrite"])
    rows.append(("fruitfeatures extract (CLI)", cli_seconds, cli_cpu, None))

    spark_output = os.path.join(work, "spark")
    spark_seconds, spark_cpu = timed([sys.executable, "-m", "fruitfeatures.spark", images, spark_output,
                           "--weights", options.weights, "--components", str(components), "--master", master]
                          + (["--max-records-per-batch", str(options.max_records_per_batch)]
                             if options.max_records_per_batch else [])
                          + (["--partitions", str(options.partitions)] if options.partitions else []),
                          env=spark_environment())
    with open(os.path.join(spark_output, "summary.json")) as file:
        spark_summary = json.load(file)
    spark_phases = spark_summary["seconds"]
    spark_tasks = spark_summary["spark"].get("task_partitions", options.partitions)
    spark_batch = spark_summary["spark"].get("max_records_per_batch", options.max_records_per_batch)
    extraction = spark_phases["extraction"]
    rows.append(("PySpark + FruitFeatures (fruitfeatures.spark)", spark_seconds, spark_cpu, extraction))

    if reference:
        reference_seconds, reference_cpu = timed([sys.executable, os.path.abspath(__file__), "--reference-job", images,
                                   os.path.join(work, "reference"), options.weights, str(components), master,
                                   str(partitions), str(options.max_records_per_batch or 1024)], env=spark_environment())
        rows.append(("PySpark + TensorFlow (reference notebook)", reference_seconds, reference_cpu, None))

    if PYTHON_DIR not in sys.path:  # once, however many runs
        sys.path.insert(0, PYTHON_DIR)
    import fruitfeatures
    extractor = fruitfeatures.Extractor(options.weights)
    sample = []
    for label in sorted(os.listdir(images)):
        for name in sorted(os.listdir(os.path.join(images, label)))[:100]:
            with open(os.path.join(images, label, name), "rb") as file:
                sample.append(file.read())
    extractor.features(sample[:2])  # warm-up
    started, started_cpu = time.perf_counter(), time.process_time()
    extractor.features(sample)
    library_rate = len(sample) / (time.perf_counter() - started)
    library_cpu_rate = len(sample) / (time.process_time() - started_cpu)
    # The same on every core at once, one thread each (the library releases the GIL): what Spark's tasks, one per
    # core, could do at best. One thread with the machine to itself can run faster or slower per core than every
    # core busy (shared caches and memory, a VM's neighbours); Spark's tasks always run with every core busy.
    threads = [threading.Thread(target=extractor.features, args=(sample,)) for _ in range(options.cores)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    library_all_cores_rate = len(sample) / (time.perf_counter() - started)  # per core

    load = os.getloadavg()
    for line in machine_lines():
        print(line)
    print(f"{n} images (100×100 JPEG), {options.cores} cores ({master}), PCA k = {components}, "
          f"{spark_tasks} partitions in the Spark job, maxRecordsPerBatch {spark_batch}"
          f"{f' (reference job {options.max_records_per_batch or 1024})' if options.reference else ''}; "
          f"weights {os.path.basename(options.weights)}; machine load average (1 / 15 min) "
          f"{load[0]:.1f} / {load[2]:.1f}")
    print()
    print("| pipeline | wall time (s) | images/s end to end | images/s extraction phase | CPU time (s) "
          "| images per CPU-second |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, cpu, phase in rows:
        phase_text = f"{n / phase:.1f}" if phase else "–"
        print(f"| {name} | {seconds:.1f} | {n / seconds:.1f} | {phase_text} | {cpu:.0f} | {n / cpu:.1f} |")
    print(f"| Python binding alone, 1 thread, features only ({len(sample)} images) | – | – "
          f"| {library_rate:.1f} | – | {library_cpu_rate:.1f} |")
    print(f"| Python binding, {options.cores} threads at once (one per core), features only ({len(sample)} images each) "
          f"| – | – | {library_all_cores_rate * options.cores:.1f} | – | – |")
    phases = ", ".join(f"{name} {spark_phases[name]:.1f}" for name in
                       ("features", "raw_write", "duplicates", "pca_fit", "pca", "total") if name in spark_phases)
    print(f"\nSpark job phases (s, its summary.json): {phases}; outside them (JVM, session start, exit) "
          f"{spark_seconds - spark_phases['total']:.1f}")
    # The features phase per core against the binding alone, against the binding with every core busy (as Spark's
    # tasks and the CLI's workers keep them) and against the CLI measured above, start-up included: the issue's
    # title reads "at the CLI's speed per core".
    per_core = n / spark_phases["features"] / options.cores
    cli_per_core = n / cli_seconds / options.cores
    print(f"Spark end to end ÷ CLI: {cli_seconds / spark_seconds:.2f} (goal ≥ 0.6)")
    print(f"Spark features phase per core ÷ the binding on one core: {per_core:.1f} ÷ {library_rate:.1f} = "
          f"{per_core / library_rate:.2f} (goal ≥ 0.8); the whole extraction phase (with the raw-feature "
          f"writes and duplicate groups): {n / extraction / options.cores / library_rate:.2f}")
    print(f"Spark features phase per core ÷ the binding per core with every core busy: {per_core:.1f} ÷ "
          f"{library_all_cores_rate:.1f} = {per_core / library_all_cores_rate:.2f}; ÷ the CLI per core (end to "
          f"end): {per_core:.1f} ÷ {cli_per_core:.1f} = {per_core / cli_per_core:.2f}")
    return {"end to end ÷ CLI": cli_seconds / spark_seconds,
            "features per core ÷ binding alone": per_core / library_rate,
            "features per core ÷ binding, every core busy": per_core / library_all_cores_rate,
            "features per core ÷ CLI per core": per_core / cli_per_core}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--components", type=int, default=200)
    parser.add_argument("--weights", default=FIXTURE_WEIGHTS)
    parser.add_argument("--partitions", type=int, default=None, help="passed to the Spark job (default: the job's own choice; "
                        "the TensorFlow reference job uses --cores)")
    parser.add_argument("--max-records-per-batch", type=int, default=None,
                        help="passed to the Spark job (default: the job's own; the TensorFlow reference job: 1024)")
    parser.add_argument("--reference", action="store_true", help="also run the TensorFlow notebook job")
    parser.add_argument("--runs", type=int, default=1, help="alternate the pipelines this many times and print "
                        "the median of each ratio (the reference job runs once)")
    parser.add_argument("--work", default=None, help="keep the images and outputs here (default: a temp folder)")
    parser.add_argument("--reference-job", nargs=7, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.reference_job:
        i, o, w, k, master, partitions, records = options.reference_job
        reference_job(i, o, w, int(k), master, int(partitions), int(records))
        return

    partitions = options.partitions or options.cores  # the reference job's
    components = min(options.components, options.images - 1)
    master = f"local[{options.cores}]"
    work = options.work or tempfile.mkdtemp(prefix="bench_spark_")
    images = os.path.join(work, "images")
    if not os.path.isdir(images):
        generate_images(images, options.images)
    ratios = []
    for run in range(options.runs):
        if run:
            print()
        ratios.append(measure(options, work, images, components, master, partitions,
                              reference=options.reference and run == 0))
    if options.runs > 1:
        # The VM's speed drifts over minutes: each ratio is taken within one run, then the median.
        print(f"\nMedians over {options.runs} runs, each ratio within its run:")
        for name in ratios[0]:
            print(f"  {name}: {statistics.median(r[name] for r in ratios):.2f} (runs: "
                  f"{', '.join(f'{r[name]:.2f}' for r in ratios)})")
    if not options.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

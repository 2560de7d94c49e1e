"""The reference notebook's pipeline on Apache Spark, with FruitFeatures computing the features (no TensorFlow).

    python -m fruitfeatures.spark INPUT OUTPUT --weights FILE [--components K] [--partitions N]
        [--max-records-per-batch N] [--pca {spark,own,none}] [--pca-model pca.h5] [--centring C] [--csv]
    python -m fruitfeatures.spark INPUT OUTPUT --update [--checksum] [--keep-pca] [--partitions N] ...

INPUT is any path Spark reads (file:, hdfs://, s3a://...). Steps, as in the notebook:
  1. binaryFile with pathGlobFilter '*.jpg' and recursiveFileLookup; label = parent folder
     (element_at(split(path, '/'), -2));
  2. a Scalar-Iterator Arrow UDF opens the extractor once per task (kept per Python worker) and runs it over
     each Arrow batch (spark.sql.execution.arrow.maxRecordsPerBatch rows); an image that cannot be read gets
     null features and an error message, and the job goes on;
  3. PCA to K components (200 by default): pyspark.ml's PCA (--pca spark, the notebook's; uncentred projection,
     explainedVariance = ratios), the project's PCA fitted from a distributed mean/scatter aggregation
     (--pca own; also writes OUTPUT/pca.h5), or a saved pca.h5 applied (--pca-model, e.g. from the CLI);
     the projection runs on the executors in an Arrow UDF (float64 product, float32 result);
  4. writes, as Parquet datasets with the notebook's schema (path string, label string, features array<float>)
     plus the content identity of each image (sha256 string: SHA-256 of its bytes, computed by Spark from the
     bytes it read):
       OUTPUT/raw_features   the 1280 MobileNetV2 features of every image that could be read, with sha256,
                             size (binaryFile's length) and mtime_ns (its modificationTime, in nanoseconds)
       OUTPUT/features       the K principal components of the same images, with sha256
       OUTPUT/duplicates     sha256, path, label of every group of images with identical bytes
     and OUTPUT/errors (path, label, error) for the images that could not be read, OUTPUT/summary.json
     (counts, explained variance, timings) and, with --csv, OUTPUT/features_csv (path,label,feature_0..).

With --update, OUTPUT's raw features are reused: files whose path, length and modificationTime are unchanged
are not read, other files are read and hashed and reuse the features of identical bytes seen before, and
only new bytes go through the network; the new datasets are written beside the old ones (OUTPUT/_update) and
then switched in, summary.json last (see Docs/spark.md for what a reader sees meanwhile). An update keeps the
settings OUTPUT/summary.json records (input, weights, glob, components, PCA method, saved model, centring, CSV):
they need not be given again, and one given with another value is an error naming both; --partitions,
--max-records-per-batch and --master are free.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

import fruitfeatures
from fruitfeatures.statistics import ScatterStatistics

#: Principal components kept unless --components says otherwise (the notebook's PCA(k=200)).
DEFAULT_COMPONENTS = 200

#: The settings a run records in summary.json ("settings") and an update keeps, with their defaults.
RECORDED_SETTINGS = {"glob": "*.jpg", "components": None, "pca": "spark", "pca_model": None,
                     "centring": "uncentred", "csv": False}

#: The schema of the extraction UDF's result.
EXTRACTION_SCHEMA = "features array<float>, error string"

# Extractors loaded in this Python process, by weights path: a reused Spark Python worker loads the weights
# once, not once per task.
_extractors = {}


def parse_arguments(argv=None):
    """The job's options from the command line (sys.argv[1:] by default).

    With --update the recorded settings (RECORDED_SETTINGS, the input and the weights) that were not given stay
    None: run() takes them from OUTPUT/summary.json (resolve_update_settings)."""
    parser = argparse.ArgumentParser(
        prog="python -m fruitfeatures.spark",
        description="MobileNetV2 features + PCA of a folder tree of JPEG images on Spark (FruitFeatures).")
    parser.add_argument("input", help="folder of images, one sub-folder per label (file:, hdfs://, s3a://...)")
    parser.add_argument("output", help="folder receiving features/, raw_features/, errors/, summary.json")
    parser.add_argument("--weights", default=None,
                        help="MobileNetV2 Keras .h5 weights: a local path or any URI SparkContext.addFile reads "
                             "(required except with --update, which keeps the run's)")
    parser.add_argument("--components", type=int, default=None,
                        help="principal components to keep (default 200, fewer if there are not enough images)")
    parser.add_argument("--partitions", type=int, default=None,
                        help="extract in N partitions (the notebook used 21); default: whole waves of tasks of about "
                             "2048 images (see Docs/spark.md)")
    parser.add_argument("--max-records-per-batch", type=int, default=None,
                        help="spark.sql.execution.arrow.maxRecordsPerBatch: images per UDF batch (default 256, and "
                             "64 MB per batch, unless the Spark configuration sets them)")
    parser.add_argument("--pca", choices=["spark", "own", "none"], default=None,
                        help="spark (default): pyspark.ml PCA (the notebook's); own: FruitFeatures' PCA from a "
                             "distributed mean/scatter aggregation; none: raw features only")
    parser.add_argument("--pca-model", default=None,
                        help="apply this saved pca.h5 (from --pca own or the fruitfeatures CLI) instead of fitting")
    parser.add_argument("--centring", choices=["uncentred", "centred"], default=None,
                        help="--pca own: project x (uncentred, the default, as pyspark.ml) or x - mean (centred, "
                             "scikit-learn)")
    parser.add_argument("--glob", default=None, help="pathGlobFilter for the image files ('*.jpg')")
    parser.add_argument("--csv", action="store_true", default=None,
                        help="also write OUTPUT/features_csv (path,label,feature_0..)")
    parser.add_argument("--master", default=None, help="Spark master when not set by spark-submit (e.g. local[2])")
    parser.add_argument("--update", action="store_true",
                        help="reuse OUTPUT's raw features: extract only new or changed images, then switch OUTPUT; "
                             "the run's settings are kept")
    parser.add_argument("--checksum", action="store_true",
                        help="--update: hash every file instead of trusting an unchanged length and modification time")
    parser.add_argument("--keep-pca", action="store_true",
                        help="--update: project with OUTPUT/pca.h5 (from --pca own or --pca-model) instead of refitting")
    options = parser.parse_args(argv)
    if (options.checksum or options.keep_pca) and not options.update:
        parser.error("--checksum and --keep-pca go with --update")
    if options.keep_pca and options.pca_model:
        parser.error("--keep-pca applies OUTPUT/pca.h5: it cannot go with --pca-model")
    if options.components is not None and options.components < 1:
        parser.error("--components must be at least 1")
    if options.partitions is not None and options.partitions < 1:
        parser.error("--partitions must be at least 1")
    if options.max_records_per_batch is not None and options.max_records_per_batch < 1:
        parser.error("--max-records-per-batch must be at least 1")
    if not options.update:
        problem = complete_settings(options)
        if problem:
            parser.error(problem)
    return options


def complete_settings(options, recorded=None):
    """Fills the settings not given from `recorded` (an earlier run's, for an update) or the defaults, then checks
    that they go together; returns what is wrong, or None."""
    for name, default in RECORDED_SETTINGS.items():
        if getattr(options, name) is None:
            setattr(options, name, (recorded or {}).get(name, default))
    if not options.weights:
        return "--weights is required (an update keeps the weights of the run it updates)"
    if options.pca_model and options.pca == "none":
        return "--pca-model applies a model: it cannot go with --pca none"
    if options.centring == "centred" and options.pca == "spark" and not options.pca_model:
        return "pyspark.ml's PCA projects uncentred rows; use --pca own for --centring centred"
    return None


def location(uri):
    """`uri` as compared between runs: a local path (also file:) absolute with links resolved, others as given
    without a trailing slash."""
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif uri.startswith("file:"):
        uri = uri[len("file:"):]
    elif "://" in uri:
        return uri.rstrip("/")
    return os.path.realpath(uri)


def resolve_update_settings(options, summary):
    """For --update: the run's settings from its `summary` (OUTPUT/summary.json) where the command line did not
    give them; a setting given with another value is an error naming both (SystemExit). Operational options
    (--partitions, --max-records-per-batch, --master) are free."""
    recorded = dict(summary.get("settings") or {})
    conflicts = []
    recorded_input = summary.get("input_absolute") or location(summary.get("input", options.input))
    if location(options.input) != recorded_input:
        conflicts.append(f"INPUT {location(options.input)} (the run was made from {recorded_input})")
    recorded_weights = recorded.pop("weights", None) or summary.get("weights")
    if options.weights is None:
        options.weights = recorded_weights
    elif recorded_weights and location(options.weights) != location(recorded_weights):
        conflicts.append(f"--weights {options.weights} (the run has {recorded_weights})")

    for name in RECORDED_SETTINGS:
        given, earlier = getattr(options, name), recorded.get(name)
        if given is None or name not in recorded:
            continue
        if name == "csv":
            if given != bool(earlier):
                conflicts.append("--csv (the run writes no CSV)")
        elif (location(given) if name == "pca_model" else given) != (
                location(earlier) if name == "pca_model" and earlier else earlier):
            shown = {"components": "the default", "pca_model": "none"}.get(name, "none") if earlier is None else earlier
            conflicts.append(f"--{name.replace('_', '-')} {given} (the run has {shown})")
    if conflicts:
        raise SystemExit("fruitfeatures.spark: --update keeps the run's settings; these differ: " + "; ".join(conflicts))
    problem = complete_settings(options, recorded)
    if problem:
        raise SystemExit(f"fruitfeatures.spark: {problem}")


def recorded_settings(options):
    """The settings summary.json records, for a later --update (the weights as a location it can be found at)."""
    settings = {name: getattr(options, name) for name in RECORDED_SETTINGS}
    settings["weights"] = location(options.weights) if _is_local(options.weights) else options.weights
    return settings


# ------------------------------------------------------------------------------------------------------------
# Extraction
# ------------------------------------------------------------------------------------------------------------

def _extractor(weights_path):
    extractor = _extractors.get(weights_path)
    if extractor is None:
        extractor = fruitfeatures.Extractor(weights_path)
        _extractors[weights_path] = extractor
    return extractor


def _resolve_weights(name, fallback):
    """The weights on this executor: the copy SparkContext.addFile fetched, else the path the driver saw."""
    from pyspark import SparkFiles
    try:
        fetched = SparkFiles.get(name)
        if os.path.isfile(fetched):
            return fetched
    except Exception:  # no SparkFiles root outside a task
        pass
    return fallback


def extraction_result(features, errors):
    """The UDF's Arrow result: struct(features array<float>, error string), null features where an image failed.

    Built from the flat (n, d) float32 array without a Python object per feature vector.
    """
    import pyarrow as pa
    failed = np.fromiter((error is not None for error in errors), dtype=bool, count=features.shape[0])
    column = _lists(features, failed if failed.any() else None)
    return pa.StructArray.from_arrays([column, pa.array(errors, type=pa.string())], names=["features", "error"])


def extraction_udf(weights_name, weights_fallback):
    """The Scalar-Iterator Arrow UDF: image bytes → struct(features array<float>, error string).

    Each Arrow batch's binary column goes to the library as its own buffers (Extractor.features_arrow): no
    per-image Python work, and the images share the network's grouped stage.
    """
    import pyarrow as pa
    from pyspark.sql.functions import arrow_udf

    @arrow_udf(EXTRACTION_SCHEMA)
    def extract(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        # Once per task (and once per reused worker process): the weights are read and the network prepared here,
        # then every Arrow batch of the task goes through the same extractor.
        extractor = _extractor(_resolve_weights(weights_name, weights_fallback))
        for contents in batches:
            yield extraction_result(*extractor.features_arrow(contents))

    return extract


def distribute_weights(spark, weights):
    """Sends the weights to every executor with SparkContext.addFile; returns (file name, driver-side path)."""
    local = os.path.isfile(weights)
    source = os.path.abspath(weights) if local else weights
    try:
        spark.sparkContext.addFile(source)
    except Exception as error:  # e.g. also shipped with spark-submit --files under another path: already there
        if "already registered" not in str(error):
            raise
    return os.path.basename(weights.rstrip("/")), source


def load_images(spark, options):
    """The notebook's reading step: path, content and label (the parent folder) of every matching file."""
    from pyspark.sql.functions import col, element_at, split
    images = (spark.read.format("binaryFile")
              .option("pathGlobFilter", options.glob)
              .option("recursiveFileLookup", "true")
              .load(options.input))
    # binaryFile reads a file's bytes only when `content` is used: the listing columns cost no read.
    images = images.select("path", "content", "length", "modificationTime").withColumn(
        "label", element_at(split(col("path"), "/"), -2))
    return partitioned(spark, images, options.partitions)


# Images per task when --partitions is not given: at ≈ 8 ms an image a task runs for tens of seconds, so its fixed
# cost (scheduling, the Arrow stream to a Python worker) is noise, and stragglers still even out over several tasks.
IMAGES_PER_TASK = 2048
# Arrow batch limits the UDF is handed unless Spark's configuration or --max-records-per-batch says otherwise:
# enough images per library call for the grouped stage (groups of 8), and few enough that a task's first batch
# comes soon: its Python worker waits while the JVM reads that batch's files (≈ 1 ms a file), and only later
# batches are read while the network runs. 1024 left each worker idle 0.6–1.4 s at every task start; 256, 0.2–0.5 s
# (10 000 images, local[2]). A bound in bytes too, since one batch holds its images' file contents (256 phone
# photos would be 800 MB).
RECORDS_PER_BATCH = 256
BYTES_PER_BATCH = 64 << 20


def partitioned(spark, images, requested):
    """The images in `requested` partitions, or by default in whole waves of about IMAGES_PER_TASK images a task.

    binaryFile's own split puts ≈ 32 small files in a task (its 4 MB open cost per file against 128 MB splits): 313
    tasks for 10 000 images, each paying a task's fixed cost for a quarter of a second of work, and every later
    stage (writes, the PCA) runs over as many partitions. Fewer partitions are made with `coalesce`, which merges
    the file splits where they are read, without shuffling image bytes; more (only when asked) with `repartition`.
    The default plans the scan no more than the job itself does: `coalesce` never adds partitions, so it needs
    only the file count, not the current split count (each look at the splits plans the whole file scan).
    """
    if requested:
        current = images.rdd.getNumPartitions()
        if requested == current:
            return images
        return images.coalesce(requested) if requested < current else images.repartition(requested)
    slots = max(1, spark.sparkContext.defaultParallelism)
    # Whole waves: a multiple of the task slots, so the last wave does not leave cores idle. With fewer file
    # splits than that, coalesce leaves them as they are.
    return images.coalesce(slots * max(1, -(-input_file_count(images) // (slots * IMAGES_PER_TASK))))


def input_file_count(frame):
    """len(frame.inputFiles()), counted in the JVM: pyspark's inputFiles() brings the paths into Python with one
    py4j call per path (1.3–4 s for 10 000 files, measured); the JVM array's length is one call."""
    java_frame = getattr(frame, "_jdf", None)  # absent under Spark Connect
    if java_frame is not None:
        return len(java_frame.inputFiles())
    return len(frame.inputFiles())


def configure_arrow_batches(spark, records):
    """Sets the UDF's Arrow batch size: --max-records-per-batch if given, else RECORDS_PER_BATCH and BYTES_PER_BATCH
    unless the Spark configuration (spark-submit --conf) sets them."""
    configured = spark.sparkContext.getConf()
    if records:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(records))
    elif not configured.contains("spark.sql.execution.arrow.maxRecordsPerBatch"):
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(RECORDS_PER_BATCH))
    if not configured.contains("spark.sql.execution.arrow.maxBytesPerBatch"):
        spark.conf.set("spark.sql.execution.arrow.maxBytesPerBatch", str(BYTES_PER_BATCH))


# ------------------------------------------------------------------------------------------------------------
# PCA
# ------------------------------------------------------------------------------------------------------------

def _rows(lists):
    """An Arrow list<float> array of equal-length, non-null rows as an (n, d) numpy array, without a Python object
    per row (the values buffer, reshaped); rows of unequal length or nulls are refused."""
    n = len(lists)
    if n == 0:
        return np.empty((0, 0), dtype=np.float32)
    if lists.null_count:
        raise ValueError(f"{lists.null_count} of {n} feature rows are null")
    values = lists.flatten().to_numpy(zero_copy_only=False)
    if values.size % n or not (np.diff(lists.offsets.to_numpy()) == values.size // n).all():
        raise ValueError("feature rows of different lengths")
    return values.reshape(n, values.size // n)


def _lists(rows, nulls=None):
    """An (n, k) float array as an Arrow list<float> array (one buffer of values, offsets k apart); rows where the
    boolean array `nulls` is true are null."""
    import pyarrow as pa
    n, k = rows.shape
    values = pa.array(np.ascontiguousarray(rows, dtype=np.float32).reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k, type=pa.int32())
    return pa.ListArray.from_arrays(offsets, values, mask=None if nulls is None else pa.array(nulls))


def scatter_statistics(features_df, dimension):
    """Count, mean and centred scatter of the `features` column, computed per partition in float64 and merged.

    Each partition's Arrow batches are read as (n, d) arrays straight from their values buffers (mapInArrow)."""
    import pickle
    import pyarrow as pa

    def per_partition(batches):
        statistics = ScatterStatistics(dimension)
        for batch in batches:
            if batch.num_rows:
                statistics.add(_rows(batch.column(0)))
        summary = pickle.dumps((statistics.count, statistics.mean, statistics.scatter), protocol=pickle.HIGHEST_PROTOCOL)
        yield pa.RecordBatch.from_arrays([pa.array([summary], type=pa.binary())], names=["statistics"])

    def decode(row):
        count, mean, scatter = pickle.loads(row.statistics)
        result = ScatterStatistics(dimension)
        result.count, result.mean, result.scatter = count, mean, scatter
        return result

    partials = features_df.select("features").mapInArrow(per_partition, "statistics binary").rdd.map(decode)
    return partials.treeReduce(lambda a, b: a.merge(b), depth=2)


def projection_udf(spark, mean, components, centred):
    """An Arrow UDF projecting the features onto `components` (k, d) in float64, as PCAModel.project does; each
    batch is one (n, d) array in and one (n, k) array out, no Python object per row."""
    import pyarrow as pa
    from pyspark.sql.functions import arrow_udf
    parts = spark.sparkContext.broadcast((np.asarray(mean, dtype=np.float64),
                                          np.asarray(components, dtype=np.float64), bool(centred)))

    @arrow_udf("array<float>")
    def project(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        mean, components, centred = parts.value
        for features in batches:
            x = _rows(features).astype(np.float64)  # (n, d)
            if len(x) == 0:
                yield _lists(np.empty((0, components.shape[0]), dtype=np.float32))
                continue
            if centred:
                x -= mean
            yield _lists((x @ components.T).astype(np.float32))  # (n, k)

    return project


def fit_spark_pca(features_df, k):
    """pyspark.ml's PCA fitted as the notebook fits it; returns (mean, components (k, d), centred, summary).

    Its PCAModel.transform multiplies x (uncentred) by the principal-components matrix; the job does the same
    product in an Arrow UDF (float64), which writes array<float> directly instead of a vector column to convert.
    """
    from pyspark.ml.feature import PCA as SparkPCA
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql.functions import col
    vectors = features_df.select(array_to_vector(col("features")).alias("features_vector"))
    model = SparkPCA(k=k, inputCol="features_vector", outputCol="reduced_features").fit(vectors)
    components = model.pc.toArray().T  # pc: (d, k)
    summary = {"method": "spark", "components": k, "centred": False,
               "explained_variance_ratio": model.explainedVariance.toArray().tolist()}
    return np.zeros(components.shape[1]), components, False, summary


def fit_own_pca(spark, features_df, k, centred, output):
    """FruitFeatures' PCA (LAPACK, via the C ABI) fitted to statistics aggregated across the cluster; saved to
    OUTPUT/pca.h5. Returns (mean, components (k, d), centred, summary)."""
    dimension = len(features_df.select("features").head()[0])
    statistics = scatter_statistics(features_df, dimension)
    model = fruitfeatures.PCA.fit_statistics(statistics.count, statistics.mean, statistics.scatter,
                                             components=k, centred=centred)
    with tempfile.TemporaryDirectory() as directory:
        local = os.path.join(directory, "pca.h5")
        model.save(local)
        publish_file(spark, local, join_path(output, "pca.h5"))
    summary = {"method": "own", "components": model.component_count, "centred": model.centred,
               "explained_variance": model.explained_variance_.tolist(),
               "explained_variance_ratio": model.explained_variance_ratio_.tolist(),
               "model": join_path(output, "pca.h5")}
    return model.mean_, model.components_, model.centred, summary


def apply_saved_pca(spark, uri):
    """A pca.h5 (from --pca own or the CLI) read on the driver. Returns (mean, components (k, d), centred, summary)."""
    with tempfile.TemporaryDirectory() as directory:
        model = fruitfeatures.PCA.open(fetch_file(spark, uri, os.path.join(directory, "pca.h5")))
    summary = {"method": "saved", "model": uri, "components": model.component_count, "centred": model.centred,
               "explained_variance": model.explained_variance_.tolist(),
               "explained_variance_ratio": model.explained_variance_ratio_.tolist()}
    return model.mean_, model.components_, model.centred, summary


# ------------------------------------------------------------------------------------------------------------
# Files on any Hadoop file system
# ------------------------------------------------------------------------------------------------------------

def join_path(directory, name):
    return directory.rstrip("/") + "/" + name


def _is_local(uri):
    return "://" not in uri and not uri.startswith("file:")


def _hadoop_path(spark, uri):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def publish_file(spark, local, uri):
    """Copies a local file to `uri` (a local path, file:, hdfs://, s3a://...)."""
    if _is_local(uri):
        os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        with open(local, "rb") as source, open(uri + ".partial", "wb") as target:
            target.write(source.read())
        os.replace(uri + ".partial", uri)
        return
    jvm = spark.sparkContext._jvm
    path, fs = _hadoop_path(spark, uri)
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path("file://" + os.path.abspath(local)), path)


def fetch_file(spark, uri, local):
    """Copies `uri` to the local path `local`; returns `local` (or `uri` itself when it is a local file)."""
    if _is_local(uri):
        return uri
    jvm = spark.sparkContext._jvm
    path, fs = _hadoop_path(spark, uri)
    fs.copyToLocalFile(False, path, jvm.org.apache.hadoop.fs.Path("file://" + os.path.abspath(local)), True)
    return local


def fetch_text(spark, uri):
    """The text of the file at `uri` (local or on any Hadoop file system)."""
    with tempfile.TemporaryDirectory() as directory:
        with open(fetch_file(spark, uri, os.path.join(directory, "text"))) as file:
            return file.read()


def publish_text(spark, text, uri):
    with tempfile.TemporaryDirectory() as directory:
        local = os.path.join(directory, "text")
        with open(local, "w") as file:
            file.write(text)
        publish_file(spark, local, uri)


# ------------------------------------------------------------------------------------------------------------
# The job
# ------------------------------------------------------------------------------------------------------------

def feature_writer(frame):
    """An overwriting Parquet writer for a frame of feature arrays, without dictionary encoding.

    Parquet's writer tries a dictionary for every column and gives up on features (no two floats alike) only after
    hashing each page's values: in a 10 000-image run Parquet writing took 27 % of the JVM's sampled CPU time, about
    half of it in that hashing (Java Flight Recorder: Float2IntLinkedOpenHashMap, the dictionary fallback). Plain
    encoding is what those pages end up with anyway."""
    return frame.write.mode("overwrite").option("parquet.enable.dictionary", "false")


def _identity_columns():
    """sha256 (of the bytes read), size and mtime_ns of binaryFile rows."""
    from pyspark.sql.functions import col, sha2, unix_micros
    return [sha2(col("content"), 256).alias("sha256"), col("length").alias("size"),
            (unix_micros(col("modificationTime")) * 1000).alias("mtime_ns")]


def extract_all(images, extract):
    """Every listed image through the network: path, label, features, error, sha256, size, mtime_ns."""
    from pyspark.sql.functions import col
    return images.select("path", "label", extract(col("content")).alias("result"), *_identity_columns()).select(
        "path", "label", col("result.features").alias("features"), col("result.error").alias("error"),
        "sha256", "size", "mtime_ns")


def extract_changed(images, earlier, extract, checksum):
    """As extract_all, reusing `earlier` raw features: rows whose path, size and mtime_ns are unchanged are not
    read (unless `checksum`); the others are read and hashed and take the features of identical bytes seen before
    (or, for a run made before content hashes, of the same path); only the rest go through the network.

    Returns (extracted, network) where `network` are the rows that went through the network."""
    from pyspark.sql.functions import col, lit, unix_micros
    columns = ["path", "label", "features", "error", "sha256", "size", "mtime_ns"]
    listed = images.select("path", "label", col("length").alias("size"),
                           (unix_micros(col("modificationTime")) * 1000).alias("mtime_ns"))
    if checksum:
        unchanged = listed.limit(0).select("path", "label", lit(None).cast("array<float>").alias("features"),
                                           lit(None).cast("string").alias("error"), lit(None).cast("string").alias("sha256"),
                                           "size", "mtime_ns")
    else:
        stamped = earlier.where(col("sha256").isNotNull()).select(
            "path", col("features").alias("old_features"), col("sha256").alias("old_sha256"),
            col("size").alias("old_size"), col("mtime_ns").alias("old_mtime_ns"))
        unchanged = listed.join(stamped, "path").where(
            (col("size") == col("old_size")) & (col("mtime_ns") == col("old_mtime_ns"))).select(
            "path", "label", col("old_features").alias("features"), lit(None).cast("string").alias("error"),
            col("old_sha256").alias("sha256"), "size", "mtime_ns")
    rest = images.join(unchanged.select("path"), "path", "left_anti").select(
        "path", "label", "content", *_identity_columns())
    seen = earlier.where(col("sha256").isNotNull()).select(
        col("sha256").alias("seen_sha256"), col("features").alias("seen_features")).dropDuplicates(["seen_sha256"])
    legacy = earlier.where(col("sha256").isNull()).select(col("path").alias("legacy_path"),
                                                          col("features").alias("legacy_features"))
    matched = rest.join(seen, col("sha256") == col("seen_sha256"), "left").join(
        legacy, col("path") == col("legacy_path"), "left")
    reused = matched.where(col("seen_features").isNotNull() | col("legacy_features").isNotNull()).selectExpr(
        "path", "label", "coalesce(seen_features, legacy_features) AS features", "CAST(NULL AS STRING) AS error",
        "sha256", "size", "mtime_ns")
    needed = matched.where(col("seen_features").isNull() & col("legacy_features").isNull()).select(
        "path", "label", "content", "sha256", "size", "mtime_ns")
    network = needed.select("path", "label", extract(col("content")).alias("result"), "sha256", "size", "mtime_ns").select(
        "path", "label", col("result.features").alias("features"), col("result.error").alias("error"),
        "sha256", "size", "mtime_ns")
    extracted = unchanged.select(*columns).unionByName(reused.select(*columns)).unionByName(network.select(*columns))
    return extracted, network


def fit_pca(spark, options, good, extracted_count, updating, target):
    """The PCA the options ask for — (mean, components (k, d), centred, summary) or None —, its warnings, and
    whether an update keeps the earlier model."""
    warnings = []
    k = options.components or DEFAULT_COMPONENTS
    keep_pca = updating and getattr(options, "keep_pca", False)
    if options.components is None and options.pca in ("spark", "own") and not options.pca_model and not keep_pca:
        # As the CLI: the default 200 shrinks to what the images support (n rows span n − 1 directions).
        if extracted_count < 2:
            raise SystemExit(f"fruitfeatures.spark: {extracted_count} images could be read; a PCA needs 2 or more "
                             f"(raw features are in {join_path(target, 'raw_features')}; --pca none skips the PCA)")
        if extracted_count - 1 < k:
            warnings.append(f"{extracted_count} images support at most {extracted_count - 1} components; "
                            f"keeping {extracted_count - 1} instead of {k}")
            k = extracted_count - 1
    fitted = None
    if keep_pca and not options.pca_model:
        fitted = apply_saved_pca(spark, join_path(options.output, "pca.h5"))
    elif options.pca_model:  # also an update of such a run with --keep-pca: the same saved model
        fitted = apply_saved_pca(spark, options.pca_model)
    elif options.pca == "spark":
        fitted = fit_spark_pca(good, k)
    elif options.pca == "own":
        fitted = fit_own_pca(spark, good, k, options.centring == "centred", target)
    return fitted, warnings, keep_pca


def write_raw_outputs(good, bad, target):
    """Writes raw_features, errors and duplicates; returns (the duplicate counts, seconds writing the first two,
    seconds finding and writing the duplicate groups)."""
    started = time.perf_counter()
    feature_writer(good).parquet(join_path(target, "raw_features"))
    bad.write.mode("overwrite").parquet(join_path(target, "errors"))
    written = time.perf_counter()
    duplicates, counts = duplicate_groups(good)
    duplicates.write.mode("overwrite").parquet(join_path(target, "duplicates"))
    return counts, written - started, time.perf_counter() - written


def duplicate_groups(good):
    """sha256, path, label of every image whose bytes another image has, and the group counts."""
    from pyspark.sql.functions import col, count, countDistinct, sum as total, when
    groups = good.groupBy("sha256").agg(count("*").alias("files"), countDistinct("label").alias("labels")).where(
        col("files") > 1)
    totals = groups.agg(count("*").alias("groups"), total("files").alias("files"),
                        count(when(col("labels") > 1, 1)).alias("conflicts")).first()
    counts = {"groups": totals["groups"], "files": int(totals["files"] or 0), "label_conflicts": totals["conflicts"]}
    if counts["groups"] == 0:
        # The usual case: an empty listing with the schema, without the join and the sort (two more jobs).
        return good.select("sha256", "path", "label").limit(0), counts
    rows = good.join(groups.select("sha256"), "sha256").select("sha256", "path", "label").orderBy("sha256", "path")
    return rows, counts


def update_counts(good, earlier, images):
    """reused / new / changed / moved / removed images of `good` compared with the `earlier` raw features."""
    from pyspark.sql.functions import col, count, when
    olds = earlier.select("path", col("sha256").alias("old_sha256"))
    seen = earlier.where(col("sha256").isNotNull()).select(col("sha256").alias("seen")).distinct()
    classified = good.select("path", "sha256").join(
        olds.withColumnRenamed("path", "earlier_path"), col("path") == col("earlier_path"), "left").join(
        seen, col("sha256") == col("seen"), "left")
    counts = classified.agg(
        count(when(col("earlier_path").isNotNull() & (col("old_sha256").isNull() | (col("old_sha256") == col("sha256"))), 1)).alias("reused"),
        count(when(col("earlier_path").isNotNull() & col("old_sha256").isNotNull() & (col("old_sha256") != col("sha256")), 1)).alias("changed"),
        count(when(col("earlier_path").isNull() & col("seen").isNotNull(), 1)).alias("moved"),
        count(when(col("earlier_path").isNull() & col("seen").isNull(), 1)).alias("new")).first()
    removed = earlier.select("path").join(images.select("path"), "path", "left_anti").count()
    return {"reused": counts["reused"], "new": counts["new"], "changed": counts["changed"],
            "moved": counts["moved"], "removed": removed}


def _exists(spark, uri):
    if _is_local(uri):
        return os.path.exists(uri)
    path, fs = _hadoop_path(spark, uri)
    return fs.exists(path)


def switch_in(spark, output, staging, names):
    """Moves each of `names` from `staging` into `output`, the earlier one aside first, summary.json last; then
    removes the earlier ones and `staging`. The one place an update replaces OUTPUT's datasets.

    On a file system with atomic renames (local, HDFS) a reader of OUTPUT/<name> sees the earlier dataset or the
    new one, never a mix; between two renames it may see one dataset of each run (summary.json, renamed last,
    says which run is complete). On S3 a rename is a copy and a delete: see Docs/spark.md."""
    previous = join_path(output, "_previous")
    ordered = [name for name in names if name != "summary.json"] + ["summary.json"]
    if _is_local(output):
        import shutil
        os.makedirs(previous, exist_ok=True)
        for name in ordered:
            source, target = join_path(staging, name), join_path(output, name)
            if os.path.exists(target):
                os.replace(target, join_path(previous, name))
            if os.path.exists(source):
                os.replace(source, target)
        shutil.rmtree(previous, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
        return
    jvm = spark.sparkContext._jvm
    previous_path, fs = _hadoop_path(spark, previous)
    fs.mkdirs(previous_path)
    for name in ordered:
        source, target = jvm.org.apache.hadoop.fs.Path(join_path(staging, name)), jvm.org.apache.hadoop.fs.Path(
            join_path(output, name))
        if fs.exists(target):
            fs.rename(target, jvm.org.apache.hadoop.fs.Path(join_path(previous, name)))
        if fs.exists(source):
            fs.rename(source, target)
    fs.delete(previous_path, True)
    fs.delete(jvm.org.apache.hadoop.fs.Path(staging), True)


def run(spark, options):
    """Runs the pipeline in an existing SparkSession; returns the summary also written to OUTPUT/summary.json."""
    from pyspark import StorageLevel
    from pyspark.sql.functions import col, count, when

    started = time.perf_counter()
    summary_file = join_path(options.output, "summary.json")
    updating = bool(getattr(options, "update", False)) and _exists(spark, summary_file)
    if updating:
        # Before anything is read or written: a refused update leaves OUTPUT as it was.
        resolve_update_settings(options, json.loads(fetch_text(spark, summary_file)))
    elif any(getattr(options, name, None) is None for name in RECORDED_SETTINGS) or not options.weights:
        problem = complete_settings(options)  # --update of a missing run: a plain run with the defaults
        if problem:
            raise SystemExit(f"fruitfeatures.spark: {problem}")
    configure_arrow_batches(spark, options.max_records_per_batch)
    weights_name, weights_fallback = distribute_weights(spark, options.weights)
    extract = extraction_udf(weights_name, weights_fallback)

    images = load_images(spark, options)
    earlier_raw = join_path(options.output, "raw_features")
    # An update writes beside the earlier datasets (which it reads) and switches them in at the end.
    target = join_path(options.output, "_update") if updating else options.output
    earlier = None
    network = None
    if updating:
        earlier = spark.read.parquet(earlier_raw)
        if "sha256" not in earlier.columns:  # a run made before content hashes: every file is read and hashed once
            from pyspark.sql.functions import lit
            earlier = (earlier.withColumn("sha256", lit(None).cast("string")).withColumn("size", lit(None).cast("long"))
                       .withColumn("mtime_ns", lit(None).cast("long")))
        earlier = earlier.persist(StorageLevel.MEMORY_AND_DISK)
        extracted, network = extract_changed(images, earlier, extract, getattr(options, "checksum", False))
    else:
        extracted = extract_all(images, extract)
    # Computed once: the raw features are written, aggregated for the PCA and projected from this cache.
    extracted = extracted.persist(StorageLevel.MEMORY_AND_DISK)
    good = extracted.where(col("error").isNull()).select("path", "label", "features", "sha256", "size", "mtime_ns")
    bad = extracted.where(col("error").isNotNull()).select("path", "label", "error")

    # The first action computes every feature into the cache; the writes and the duplicate groups read the cache.
    counts = extracted.agg(count(when(col("error").isNull(), 1)).alias("extracted"),
                           count(col("error")).alias("failed")).first()
    extracted_count, failed_count = counts["extracted"], counts["failed"]
    # The images' partitions, the extraction's tasks: from the cache of a full run (planning the file scan again
    # costs a second), from the scan itself for an update (whose cache is a union of several parts).
    task_partitions = (images if updating else extracted).rdd.getNumPartitions()
    features_seconds = time.perf_counter() - started

    # The raw outputs are written while the PCA is fitted, as the CLI does: the writes and the duplicate groups
    # are short jobs whose scheduling leaves cores idle, and the fit ends in a single-threaded decomposition on
    # the driver. The projection is written only once they are done: a failed write stops the job before it, and
    # wins over a failed fit (whose message may name the raw features).
    pca_started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fruitfeatures-raw-outputs") as pool:
        raw_outputs = pool.submit(write_raw_outputs, good, bad, target)
        try:
            fitted, warnings, keep_pca = fit_pca(spark, options, good, extracted_count, updating, target)
        except BaseException as failure:
            if raw_outputs.exception() is not None:  # waits for the writes
                raise raw_outputs.exception() from failure
            raise
        fit_seconds = time.perf_counter() - pca_started
        duplicate_counts, raw_write_seconds, duplicates_seconds = raw_outputs.result()
    if duplicate_counts["label_conflicts"]:
        warnings.insert(0, f"{duplicate_counts['label_conflicts']} groups of identical files carry different labels "
                           f"(label conflicts); see {join_path(options.output, 'duplicates')}")
    pca_summary = None
    projected = None
    projected_good = good.select("path", "label", "features", "sha256")
    if fitted is not None:
        mean, components, centred, pca_summary = fitted
        pca_summary["explained_variance_ratio_total"] = float(sum(pca_summary["explained_variance_ratio"]))
        project = projection_udf(spark, mean, components, centred)
        projected = projected_good.select("path", "label", project(col("features")).alias("features"), "sha256")
        feature_writer(projected).parquet(join_path(target, "features"))
    if options.csv:
        table = projected if projected is not None else good
        width = pca_summary["components"] if pca_summary else len(good.select("features").head()[0])
        columns = [col("features")[i].alias(f"feature_{i}") for i in range(width)]
        (table.select("path", "label", *columns).write.mode("overwrite").option("header", "true")
         .csv(join_path(target, "features_csv")))
    extraction_seconds = features_seconds + raw_write_seconds + duplicates_seconds
    update_summary = None
    if updating:
        update_summary = update_counts(good, earlier, images)
        update_summary["failed"] = failed_count
        update_summary["network_passes"] = network.count() if network is not None else extracted_count
        update_summary["pca"] = "kept" if keep_pca else "refit"
    extracted.unpersist()

    summary = {
        "version": _library_version(),
        "input": options.input,
        "input_absolute": location(options.input),
        "output": options.output,
        "weights": options.weights,
        "settings": recorded_settings(options),
        # The CLI's names (summary.json of fruitfeatures extract) where they mean the same.
        "images": {"found": extracted_count + failed_count, "processed": extracted_count, "failed": failed_count},
        "images_per_second": round((extracted_count + failed_count) / extraction_seconds, 3),
        "pca": pca_summary,
        "duplicates": duplicate_counts,
        "spark": {
            "version": spark.version,
            "master": spark.sparkContext.master,
            "default_parallelism": spark.sparkContext.defaultParallelism,
            "partitions": options.partitions,
            "task_partitions": task_partitions,
            "driver_memory": spark.sparkContext.getConf().get("spark.driver.memory", "1g"),
            "max_records_per_batch": int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")),
        },
        "seconds": {
            # extraction = features (listing, reading, the network, into the cache) + raw_write + duplicates; the
            # last two run beside pca (the fit, the projection and its writes), so they may overlap it.
            "features": round(features_seconds, 3),
            "raw_write": round(raw_write_seconds, 3),
            "duplicates": round(duplicates_seconds, 3),
            "extraction": round(extraction_seconds, 3),
            "pca_fit": round(fit_seconds, 3),
            "pca": round(time.perf_counter() - pca_started, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        "warnings": warnings,
    }
    if update_summary is not None:
        summary["update"] = update_summary
    publish_text(spark, json.dumps(summary, indent=2) + "\n", join_path(target, "summary.json"))
    if updating:
        earlier.unpersist()
        names = ["raw_features", "errors", "duplicates", "features", "features_csv", "summary.json"]
        if fitted is not None and options.pca == "own" and not keep_pca and not options.pca_model:
            names.append("pca.h5")
        switch_in(spark, options.output, target, names)
    return summary


def _library_version():
    """The library's version as the driver sees it; None when the driver has no library (only executors need it
    with --pca spark)."""
    try:
        return fruitfeatures.version()
    except fruitfeatures.FruitFeaturesError:
        return None


def _starts_local_spark(master, environment):
    """Whether this process starts Spark itself in local mode: not under spark-submit (which sets
    PYSPARK_GATEWAY_PORT and brings its own settings) and not on a cluster master."""
    return "PYSPARK_GATEWAY_PORT" not in environment and (master is None or master.startswith("local"))


def _prepare_local_workers(master):
    """In local mode, makes this package and this interpreter the Python workers' (they inherit the driver's
    environment). Left alone under spark-submit, where --py-files and the cluster's Python apply."""
    if not _starts_local_spark(master, os.environ):
        return
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fruitfeatures.__file__)))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if os.path.isdir(package_parent) and package_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in paths if p])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def local_jvm_environment(master, environment=None):
    """Variables a local run's JVM is started with (and passes on to its Python workers); empty under
    spark-submit, on a cluster, or for a variable the environment already sets.

    OPENBLAS_NUM_THREADS=1: in local mode the JVM runs the tasks, and pyspark.ml's PCA calls OpenBLAS (through
    dev.ludovic.netlib) from every task thread at once, whose own threads (one per core by default) then
    over-subscribe the cores. Timed alone, the fit on 10 000 × 1280 features took 9.6 s with them and 7.8 s with
    one thread on a fresh JVM (5.2 and 3.3 s on a warm one). One thread per task is what PySpark gives its
    Python workers too (OMP_NUM_THREADS = spark.task.cpus). The driver's own Python keeps its setting: the JVM
    gets these only while it starts (`_started_with`).
    """
    environment = os.environ if environment is None else environment
    if not _starts_local_spark(master, environment):
        return {}
    return {} if "OPENBLAS_NUM_THREADS" in environment else {"OPENBLAS_NUM_THREADS": "1"}


@contextlib.contextmanager
def _started_with(variables):
    """Sets `variables` in this process's environment for the length of the block (the JVM copies it when
    launched), then restores what was there."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_driver_memory(master, environment=None, physical_bytes=None):
    """The driver heap a local run of this job gets when nothing else sets it, or None.

    In local mode the driver's JVM also runs every task: it holds the cached features, the Arrow batches and the
    PCA's aggregation, and Spark's 1 GB default keeps its garbage collector busy on both cores (10 000 images in
    local[2]: 161 CPU-seconds and 88.9 s with 1 GB, 148 and 80.4 s with 4 GB). A quarter of the machine's memory,
    at least 1 GB and at most 4 GB. None under spark-submit, on a cluster, or when PYSPARK_SUBMIT_ARGS or
    spark-defaults.conf name a driver memory (which then applies).
    """
    environment = os.environ if environment is None else environment
    if not _starts_local_spark(master, environment):
        return None
    if _set_elsewhere("spark.driver.memory", "--driver-memory", environment):
        return None
    if physical_bytes is None:
        physical_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, min(4, physical_bytes // (4 << 30)))}g"


# The local JVM compiles with its first tier (C1) only. A local run's JVM lives for a minute or two on the cores
# the Python workers need, and its optimising compiler (C2) spends that time compiling Spark's code paths, most
# of them run too few times to repay it: 45 % of the JVM's CPU inside the features phase (perf). 10 000 images
# in local[2] on 2 cores, three alternated pairs: the whole run took 64.7, 66.6 and 74.1 s against 71.5, 70.1
# and 76.0 s with C2 (Docs/spark.md, Sizing).
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"


def local_java_options(master, environment=None):
    """The JVM options a local run of this job gets when nothing else sets them (LOCAL_JAVA_OPTIONS), or None.

    None under spark-submit, on a cluster (long-lived executors earn C2's compiling back), or when
    PYSPARK_SUBMIT_ARGS or spark-defaults.conf give the driver Java options, which are then left as they are.
    """
    environment = os.environ if environment is None else environment
    if not _starts_local_spark(master, environment):
        return None
    if _set_elsewhere("spark.driver.extraJavaOptions", "--driver-java-options", environment):
        return None
    return LOCAL_JAVA_OPTIONS


def _set_elsewhere(key, flag, environment):
    """Whether the Spark setting `key` (spark-submit's `flag`) is given in PYSPARK_SUBMIT_ARGS or in the
    spark-defaults.conf that spark-submit will read."""
    submitted = environment.get("PYSPARK_SUBMIT_ARGS", "")
    return flag in submitted or key in submitted or key in _spark_defaults(environment)


def _spark_defaults(environment):
    """The keys set in spark-defaults.conf of the configuration folder spark-submit reads: SPARK_CONF_DIR, else
    SPARK_HOME/conf (pip's pyspark is its own SPARK_HOME). Empty when there is no such file."""
    import re
    folder = environment.get("SPARK_CONF_DIR")
    if not folder:
        home = environment.get("SPARK_HOME")
        if not home:
            import pyspark
            home = os.path.dirname(os.path.abspath(pyspark.__file__))
        folder = os.path.join(home, "conf")
    try:
        with open(os.path.join(folder, "spark-defaults.conf"), encoding="utf-8", errors="replace") as file:
            lines = [line.strip() for line in file]
    except OSError:
        return set()
    # Java properties: the key ends at the first blank, '=' or ':'.
    return {re.split(r"[\s=:]", line, maxsplit=1)[0] for line in lines if line and not line.startswith(("#", "!"))}


def start_session(master=None, app_name="fruitfeatures", settings=None):
    """The SparkSession this job runs in: the active one under spark-submit, else one started here; a local run
    gets its Python workers, driver heap, Java options and JVM BLAS threads as above unless something else sets them.
    `settings` are further Spark settings (name → value) given to the builder."""
    _prepare_local_workers(master)
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    local = {"spark.driver.memory": local_driver_memory(master),
             "spark.driver.extraJavaOptions": local_java_options(master)}
    for name, value in list(local.items()) + list((settings or {}).items()):
        if value is not None:
            builder = builder.config(name, value)  # the JVM's own settings are taken when this call starts it
    with _started_with(local_jvm_environment(master)):
        return builder.getOrCreate()


def main(argv=None):
    options = parse_arguments(argv)
    spark = start_session(options.master)
    try:
        summary = run(spark, options)
    finally:
        spark.stop()
    pca = summary["pca"]
    for warning in summary["warnings"]:
        print(f"fruitfeatures.spark: warning: {warning}", file=sys.stderr)
    print(f"{summary['images']['processed']} images extracted, {summary['images']['failed']} failed"
          + (f"; PCA ({pca['method']}) to {pca['components']} components explaining "
             f"{pca['explained_variance_ratio_total']:.4f} of the variance" if pca else "")
          + f"; {summary['seconds']['total']:.1f} s → {options.output}")
    return 0


if __name__ == "__main__":
    # Run the imported module's main, not __main__'s: the UDFs then refer to fruitfeatures.spark by name on the
    # workers (where its per-process extractor cache lives) instead of being pickled with a copy of __main__.
    from fruitfeatures.spark import main as module_main
    sys.exit(module_main())

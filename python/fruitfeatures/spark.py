"""The reference notebook's pipeline on Apache Spark, with FruitFeatures computing the features (no TensorFlow).

    python -m fruitfeatures.spark INPUT OUTPUT --weights FILE [--components K] [--partitions N]
        [--max-records-per-batch N] [--pca {spark,own,none}] [--pca-model pca.h5] [--centring C] [--csv]

INPUT is any path Spark reads (file:, hdfs://, s3a://...). Steps, as in the notebook:
  1. binaryFile with pathGlobFilter '*.jpg' and recursiveFileLookup; label = parent folder
     (element_at(split(path, '/'), -2));
  2. a Scalar-Iterator Arrow UDF opens the extractor once per task (kept per Python worker) and runs it over
     each Arrow batch (spark.sql.execution.arrow.maxRecordsPerBatch rows); an image that cannot be read gets
     null features and an error message, and the job goes on;
  3. PCA to K components (200 by default): pyspark.ml's PCA (--pca spark, the notebook's; uncentred projection,
     explainedVariance = ratios), the project's PCA fitted from a distributed mean/scatter aggregation
     (--pca own; also writes OUTPUT/pca.h5), or a saved pca.h5 applied (--pca-model, e.g. from the CLI);
     the projection runs on the executors in a pandas UDF (float64 product, float32 result);
  4. writes, as Parquet datasets with the notebook's schema (path string, label string, features array<float>):
       OUTPUT/raw_features   the 1280 MobileNetV2 features of every image that could be read
       OUTPUT/features       the K principal components of the same images
     and OUTPUT/errors (path, label, error) for the images that could not be read, OUTPUT/summary.json
     (counts, explained variance, timings) and, with --csv, OUTPUT/features_csv (path,label,feature_0..).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Iterator

import numpy as np
import pandas as pd

import fruitfeatures
from fruitfeatures.statistics import ScatterStatistics

#: Principal components kept unless --components says otherwise (the notebook's PCA(k=200)).
DEFAULT_COMPONENTS = 200

#: The schema of the extraction UDF's result.
EXTRACTION_SCHEMA = "features array<float>, error string"

# Extractors loaded in this Python process, by weights path: a reused Spark Python worker loads the weights
# once, not once per task.
_extractors = {}


def parse_arguments(argv=None):
    """The job's options from the command line (sys.argv[1:] by default)."""
    parser = argparse.ArgumentParser(
        prog="python -m fruitfeatures.spark",
        description="MobileNetV2 features + PCA of a folder tree of JPEG images on Spark (FruitFeatures).")
    parser.add_argument("input", help="folder of images, one sub-folder per label (file:, hdfs://, s3a://...)")
    parser.add_argument("output", help="folder receiving features/, raw_features/, errors/, summary.json")
    parser.add_argument("--weights", required=True,
                        help="MobileNetV2 Keras .h5 weights: a local path or any URI SparkContext.addFile reads")
    parser.add_argument("--components", type=int, default=None,
                        help="principal components to keep (default 200, fewer if there are not enough images)")
    parser.add_argument("--partitions", type=int, default=None,
                        help="repartition the images into N partitions before extraction (the notebook used 21)")
    parser.add_argument("--max-records-per-batch", type=int, default=None,
                        help="spark.sql.execution.arrow.maxRecordsPerBatch: images per UDF batch (Spark: 10000)")
    parser.add_argument("--pca", choices=["spark", "own", "none"], default="spark",
                        help="spark: pyspark.ml PCA (the notebook's); own: FruitFeatures' PCA from a distributed "
                             "mean/scatter aggregation; none: raw features only")
    parser.add_argument("--pca-model", default=None,
                        help="apply this saved pca.h5 (from --pca own or the fruitfeatures CLI) instead of fitting")
    parser.add_argument("--centring", choices=["uncentred", "centred"], default="uncentred",
                        help="--pca own: project x (uncentred, as pyspark.ml) or x - mean (centred, scikit-learn)")
    parser.add_argument("--glob", default="*.jpg", help="pathGlobFilter for the image files ('*.jpg')")
    parser.add_argument("--csv", action="store_true", help="also write OUTPUT/features_csv (path,label,feature_0..)")
    parser.add_argument("--master", default=None, help="Spark master when not set by spark-submit (e.g. local[2])")
    options = parser.parse_args(argv)
    if options.components is not None and options.components < 1:
        parser.error("--components must be at least 1")
    if options.partitions is not None and options.partitions < 1:
        parser.error("--partitions must be at least 1")
    if options.max_records_per_batch is not None and options.max_records_per_batch < 1:
        parser.error("--max-records-per-batch must be at least 1")
    if options.pca_model and options.pca == "none":
        parser.error("--pca-model applies a model: it cannot go with --pca none")
    if options.centring == "centred" and options.pca == "spark" and not options.pca_model:
        parser.error("pyspark.ml's PCA projects uncentred rows; use --pca own for --centring centred")
    return options


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
    count, width = features.shape
    failed = np.fromiter((error is not None for error in errors), dtype=bool, count=count)
    values = pa.array(features.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(count + 1, dtype=np.int32) * width, type=pa.int32())
    column = pa.ListArray.from_arrays(offsets, values, mask=pa.array(failed) if failed.any() else None)
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
    images = images.select("path", "content").withColumn("label", element_at(split(col("path"), "/"), -2))
    if options.partitions:
        images = images.repartition(options.partitions)
    return images


# ------------------------------------------------------------------------------------------------------------
# PCA
# ------------------------------------------------------------------------------------------------------------

def _stack(series):
    """A pandas Series of equal-length arrays as an (n, d) array."""
    if len(series) == 0:
        return np.empty((0, 0), dtype=np.float32)
    return np.stack(series.to_numpy())


def scatter_statistics(features_df, dimension):
    """Count, mean and centred scatter of the `features` column, computed per partition in float64 and merged."""
    import pickle

    def per_partition(batches):
        statistics = ScatterStatistics(dimension)
        for batch in batches:
            if len(batch):
                statistics.add(_stack(batch["features"]))
        yield pd.DataFrame({"statistics": [pickle.dumps(
            (statistics.count, statistics.mean, statistics.scatter), protocol=pickle.HIGHEST_PROTOCOL)]})

    def decode(row):
        count, mean, scatter = pickle.loads(row.statistics)
        result = ScatterStatistics(dimension)
        result.count, result.mean, result.scatter = count, mean, scatter
        return result

    partials = features_df.select("features").mapInPandas(per_partition, "statistics binary").rdd.map(decode)
    return partials.treeReduce(lambda a, b: a.merge(b), depth=2)


def projection_udf(spark, mean, components, centred):
    """A pandas UDF projecting the features onto `components` (k, d) in float64, as PCAModel.project does."""
    from pyspark.sql.functions import pandas_udf
    parts = spark.sparkContext.broadcast((np.asarray(mean, dtype=np.float64),
                                          np.asarray(components, dtype=np.float64), bool(centred)))

    @pandas_udf("array<float>")
    def project(features: pd.Series) -> pd.Series:
        mean, components, centred = parts.value
        if len(features) == 0:
            return pd.Series([], dtype=object)
        x = _stack(features).astype(np.float64)  # (n, d)
        if centred:
            x -= mean
        projected = (x @ components.T).astype(np.float32)  # (n, k)
        return pd.Series(list(projected))

    return project


def fit_spark_pca(features_df, k):
    """pyspark.ml's PCA fitted as the notebook fits it; returns (mean, components (k, d), centred, summary).

    Its PCAModel.transform multiplies x (uncentred) by the principal-components matrix; the job does the same
    product in a pandas UDF (float64), which writes array<float> directly instead of a vector column to convert.
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


def publish_text(spark, text, uri):
    with tempfile.TemporaryDirectory() as directory:
        local = os.path.join(directory, "text")
        with open(local, "w") as file:
            file.write(text)
        publish_file(spark, local, uri)


# ------------------------------------------------------------------------------------------------------------
# The job
# ------------------------------------------------------------------------------------------------------------

def run(spark, options):
    """Runs the pipeline in an existing SparkSession; returns the summary also written to OUTPUT/summary.json."""
    from pyspark import StorageLevel
    from pyspark.sql.functions import col, count, when

    started = time.perf_counter()
    if options.max_records_per_batch:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(options.max_records_per_batch))
    weights_name, weights_fallback = distribute_weights(spark, options.weights)
    extract = extraction_udf(weights_name, weights_fallback)

    images = load_images(spark, options)
    extracted = images.select("path", "label", extract(col("content")).alias("result")).select(
        "path", "label", col("result.features").alias("features"), col("result.error").alias("error"))
    # Computed once: the raw features are written, aggregated for the PCA and projected from this cache.
    extracted = extracted.persist(StorageLevel.MEMORY_AND_DISK)
    good = extracted.where(col("error").isNull()).select("path", "label", "features")
    bad = extracted.where(col("error").isNotNull()).select("path", "label", "error")

    good.write.mode("overwrite").parquet(join_path(options.output, "raw_features"))
    bad.write.mode("overwrite").parquet(join_path(options.output, "errors"))
    counts = extracted.agg(count(when(col("error").isNull(), 1)).alias("extracted"),
                           count(col("error")).alias("failed")).first()
    extracted_count, failed_count = counts["extracted"], counts["failed"]
    extraction_seconds = time.perf_counter() - started

    pca_started = time.perf_counter()
    warnings = []
    pca_summary = None
    projected = None
    fitted = None
    k = options.components or DEFAULT_COMPONENTS
    if options.components is None and options.pca in ("spark", "own") and not options.pca_model:
        # As the CLI: the default 200 shrinks to what the images support (n rows span n − 1 directions).
        if extracted_count < 2:
            raise SystemExit(f"fruitfeatures.spark: {extracted_count} images could be read; a PCA needs 2 or more "
                             f"(raw features are in {join_path(options.output, 'raw_features')}; --pca none skips the PCA)")
        if extracted_count - 1 < k:
            warnings.append(f"{extracted_count} images support at most {extracted_count - 1} components; "
                            f"keeping {extracted_count - 1} instead of {k}")
            k = extracted_count - 1
    if options.pca_model:
        fitted = apply_saved_pca(spark, options.pca_model)
    elif options.pca == "spark":
        fitted = fit_spark_pca(good, k)
    elif options.pca == "own":
        fitted = fit_own_pca(spark, good, k, options.centring == "centred", options.output)
    if fitted is not None:
        mean, components, centred, pca_summary = fitted
        pca_summary["explained_variance_ratio_total"] = float(sum(pca_summary["explained_variance_ratio"]))
        project = projection_udf(spark, mean, components, centred)
        projected = good.select("path", "label", project(col("features")).alias("features"))
        projected.write.mode("overwrite").parquet(join_path(options.output, "features"))
    if options.csv:
        table = projected if projected is not None else good
        width = pca_summary["components"] if pca_summary else len(good.select("features").head()[0])
        columns = [col("features")[i].alias(f"feature_{i}") for i in range(width)]
        (table.select("path", "label", *columns).write.mode("overwrite").option("header", "true")
         .csv(join_path(options.output, "features_csv")))
    extracted.unpersist()

    summary = {
        "version": _library_version(),
        "input": options.input,
        "output": options.output,
        "weights": options.weights,
        # The CLI's names (summary.json of fruitfeatures extract) where they mean the same.
        "images": {"found": extracted_count + failed_count, "processed": extracted_count, "failed": failed_count},
        "images_per_second": round((extracted_count + failed_count) / extraction_seconds, 3),
        "pca": pca_summary,
        "spark": {
            "version": spark.version,
            "master": spark.sparkContext.master,
            "default_parallelism": spark.sparkContext.defaultParallelism,
            "partitions": options.partitions,
            "max_records_per_batch": int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")),
        },
        "seconds": {
            "extraction": round(extraction_seconds, 3),
            "pca": round(time.perf_counter() - pca_started, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        "warnings": warnings,
    }
    publish_text(spark, json.dumps(summary, indent=2) + "\n", join_path(options.output, "summary.json"))
    return summary


def _library_version():
    """The library's version as the driver sees it; None when the driver has no library (only executors need it
    with --pca spark)."""
    try:
        return fruitfeatures.version()
    except fruitfeatures.FruitFeaturesError:
        return None


def _prepare_local_workers(master):
    """In local mode, makes this package and this interpreter the Python workers' (they inherit the driver's
    environment). Left alone under spark-submit, where --py-files and the cluster's Python apply."""
    launched_by_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if launched_by_spark_submit or not (master is None or master.startswith("local")):
        return
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fruitfeatures.__file__)))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if os.path.isdir(package_parent) and package_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in paths if p])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def main(argv=None):
    options = parse_arguments(argv)
    _prepare_local_workers(options.master)
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.appName("fruitfeatures")
    if options.master:
        builder = builder.master(options.master)
    spark = builder.getOrCreate()
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

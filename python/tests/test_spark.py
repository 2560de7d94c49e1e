"""The PySpark job in local[2] on Fixtures/images plus a corrupt JPEG: features against tf.keras goldens and the
CLI's (`fruitfeatures extract`), PCA against the project's PCA and the CLI's, outputs read back with pandas."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import fruitfeatures
from fruitfeatures import spark as job
from conftest import FIXTURES, ROOT, WEIGHTS

K = 5  # components asked for explicitly
# Without --components, 200 shrinks to what the 9 readable images support: 8 (the job and the CLI alike).
K_DEFAULT = len(glob.glob(os.path.join(FIXTURES, "images", "*", "*.jpg"))) - 1


# The raw features never depend on threads or batching. The PCA fit (LAPACKE over OpenBLAS) can round
# differently with another BLAS thread count, so the CLI runs single-threaded like Spark's Python workers
# (PySpark sets OMP_NUM_THREADS to spark.task.cpus).
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.update(BLAS_THREADS)
    # The job's own session start, so the tests run in the JVM a local run of the job gets.
    session = job.start_session("local[2]", "fruitfeatures-tests",
                                {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Fixtures/images, plus a truncated JPEG (must fail alone) and a text file (must be ignored by the glob)."""
    root = tmp_path_factory.mktemp("input") / "images"
    shutil.copytree(os.path.join(FIXTURES, "images"), root)
    with open(os.path.join(FIXTURES, "images", "Apple", "0_100.jpg"), "rb") as file:
        (root / "Apple" / "corrupt.jpg").write_bytes(file.read()[:700])
    (root / "Lemon" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def cli_run(images, tmp_path_factory):
    """`fruitfeatures extract` on the same input, with its defaults (components: as many as fit, centred)."""
    binary = os.path.join(ROOT, ".build", "release", "fruitfeatures")
    output = tmp_path_factory.mktemp("cli") / "out"
    subprocess.run([binary, "extract", str(images), "-o", str(output), "--weights", WEIGHTS, "--no-progress"],
                   check=True, capture_output=True, env={**os.environ, **BLAS_THREADS})
    return output


def run_job(spark, images, output, *arguments, weights=WEIGHTS):
    options = job.parse_arguments([str(images), str(output), *(["--weights", weights] if weights else []), *arguments])
    return job.run(spark, options)


@pytest.fixture(scope="module")
def spark_pca_run(spark, images, tmp_path_factory):
    """The notebook's pipeline: pyspark.ml PCA; small Arrow batches and 3 partitions, so tasks see several batches."""
    output = tmp_path_factory.mktemp("spark_pca") / "out"
    summary = run_job(spark, images, output, "--components", str(K), "--partitions", "3",
                      "--max-records-per-batch", "2", "--csv")
    return output, summary


@pytest.fixture(scope="module")
def own_pca_run(spark, images, tmp_path_factory):
    output = tmp_path_factory.mktemp("own_pca") / "out"
    summary = run_job(spark, images, output, "--pca", "own", "--centring", "centred")
    return output, summary


def relative(path):
    """'file:/tmp/.../images/Apple/0_100.jpg' → 'Apple/0_100.jpg'."""
    return "/".join(path.split("/")[-2:])


def read_features(directory):
    frame = pd.read_parquet(directory)
    return {relative(path): np.asarray(features, dtype=np.float32)
            for path, features in zip(frame["path"], frame["features"])}, frame


def test_outputs_have_the_notebook_schema_and_pandas_reads_them(spark_pca_run):
    output, _ = spark_pca_run
    for name, width, identity in (("raw_features", 1280, ["sha256", "size", "mtime_ns"]), ("features", K, ["sha256"])):
        schema = pq.read_table(str(output / name)).schema
        # The notebook's columns, then the content identity.
        assert schema.names == ["path", "label", "features"] + identity
        assert str(schema.field("path").type) == "string" and str(schema.field("label").type) == "string"
        # The notebook's: features array<float>, the array and its elements nullable.
        field = schema.field("features")
        assert field.nullable and str(field.type) in ("list<element: float>", "list<item: float>")
        frame = pd.read_parquet(output / name)
        assert frame.shape == (9, 3 + len(identity))
        assert {len(features) for features in frame["features"]} == {width}
        assert sorted(frame["label"]) == ["Apple"] * 3 + ["Banana"] * 3 + ["Lemon"] * 3
        assert all(label == path.split("/")[-2] for path, label in zip(frame["path"], frame["label"]))


def test_feature_arrays_are_written_without_a_dictionary(spark_pca_run):
    """The writer is told not to hash feature floats for a dictionary it would abandon (see feature_writer)."""
    import glob
    import pyarrow.parquet as pq
    output, _ = spark_pca_run
    for name in ("raw_features", "features"):
        parts = glob.glob(str(output / name / "*.parquet"))
        assert parts, name
        for part in parts:
            metadata = pq.ParquetFile(part).metadata
            for group in range(metadata.num_row_groups):
                for index in range(metadata.num_columns):
                    column = metadata.row_group(group).column(index)
                    assert not any("DICTIONARY" in encoding for encoding in column.encodings), \
                        (name, column.path_in_schema, column.encodings)


def test_raw_features_equal_keras_goldens(spark_pca_run, goldens):
    output, _ = spark_pca_run
    features, _ = read_features(output / "raw_features")
    assert sorted(features) == sorted(goldens)
    for name, expected in goldens.items():
        assert np.abs(features[name] - expected).max() <= 1e-4, name


def test_a_corrupt_image_is_reported_and_does_not_fail_the_job(spark_pca_run):
    output, summary = spark_pca_run
    errors = pd.read_parquet(output / "errors")
    assert list(errors.columns) == ["path", "label", "error"]
    assert [relative(path) for path in errors["path"]] == ["Apple/corrupt.jpg"]
    assert "truncated" in errors["error"][0]
    assert summary["images"] == {"found": 10, "processed": 9, "failed": 1}
    with open(output / "summary.json") as file:
        assert json.load(file) == summary


def test_the_summary_times_the_phases_apart(spark_pca_run):
    _, summary = spark_pca_run
    seconds = summary["seconds"]
    for name in ("features", "raw_write", "duplicates", "extraction", "pca_fit", "pca", "total"):
        assert seconds[name] >= 0, name
    # The extraction phase is its three parts, each rounded to the millisecond.
    parts = seconds["features"] + seconds["raw_write"] + seconds["duplicates"]
    assert abs(seconds["extraction"] - parts) <= 0.003
    # After the features, the raw writes and duplicate groups run beside the PCA, which waits for them before it
    # writes the projection: they end within the PCA's time, and it within the total.
    assert seconds["pca_fit"] <= seconds["pca"] and seconds["features"] + seconds["pca"] <= seconds["total"] + 0.002
    assert seconds["raw_write"] + seconds["duplicates"] <= seconds["pca"] + 0.003


def test_a_failed_raw_write_stops_the_job_before_the_projection(spark, images, tmp_path, monkeypatch):
    """The raw outputs are written beside the PCA fit; their failure is raised once the fit is done, before any
    projection is written, and over a failed fit (chained to it)."""
    def failing_write(good, bad, target):
        raise OSError(f"{target}: no space left on device (injected)")

    monkeypatch.setattr(job, "write_raw_outputs", failing_write)
    output = tmp_path / "out"
    with pytest.raises(OSError, match="injected"):
        run_job(spark, images, output, "--components", str(K))
    assert not (output / "features").exists() and not (output / "summary.json").exists()

    def failing_fit(*arguments):
        raise ValueError("the fit failed (injected)")

    monkeypatch.setattr(job, "fit_pca", failing_fit)
    with pytest.raises(OSError, match="injected") as caught:
        run_job(spark, images, tmp_path / "again", "--components", str(K))
    assert isinstance(caught.value.__cause__, ValueError)
    assert not (tmp_path / "again" / "features").exists()


def test_tasks_are_whole_waves_of_coalesced_file_splits(spark, images, monkeypatch):
    """By default the file splits are merged (no shuffle) into a multiple of the task slots, about IMAGES_PER_TASK
    images a task; --partitions N gives N."""
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "64k")  # one file per split: 10 splits to merge
    try:
        frame = (spark.read.format("binaryFile").option("pathGlobFilter", "*.jpg")
                 .option("recursiveFileLookup", "true").load(str(images)))
        assert frame.rdd.getNumPartitions() == 10
        assert job.input_file_count(frame) == len(frame.inputFiles()) == 10
        slots = spark.sparkContext.defaultParallelism
        assert job.partitioned(spark, frame, None).rdd.getNumPartitions() == slots
        monkeypatch.setattr(job, "IMAGES_PER_TASK", 2)  # 10 images in whole waves of tasks of at most 2 per task
        assert job.partitioned(spark, frame, None).rdd.getNumPartitions() == min(10, slots * -(-10 // (slots * 2)))
        assert job.partitioned(spark, frame, 1).rdd.getNumPartitions() == 1
        assert job.partitioned(spark, frame, 13).rdd.getNumPartitions() == 13
        coalesced = job.partitioned(spark, frame, 3)
        assert "Exchange" not in coalesced._jdf.queryExecution().executedPlan().toString()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)


def test_a_local_run_gives_the_jvm_blas_one_thread_unless_told_otherwise(monkeypatch):
    """In local mode the JVM runs the tasks, whose pyspark.ml PCA calls OpenBLAS: one thread each, as PySpark
    gives its Python workers. Left alone on a cluster, under spark-submit, and when the environment says; only
    while the JVM starts, so the driver's own Python keeps its setting."""
    one = {"OPENBLAS_NUM_THREADS": "1"}
    assert job.local_jvm_environment("local[2]", {}) == one
    assert job.local_jvm_environment(None, {}) == one
    assert job.local_jvm_environment("yarn", {}) == {}
    assert job.local_jvm_environment("local[2]", {"PYSPARK_GATEWAY_PORT": "1"}) == {}
    assert job.local_jvm_environment("local[2]", {"OPENBLAS_NUM_THREADS": "4"}) == {}
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with job._started_with(one):
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    with job._started_with(one):
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"


def test_a_local_run_gets_a_driver_heap_for_its_tasks_unless_told_otherwise():
    gib = 1 << 30
    assert job.local_driver_memory("local[2]", {}, 24 * gib) == "4g"
    assert job.local_driver_memory(None, {}, 10 * gib) == "2g"
    assert job.local_driver_memory("local[*]", {}, 3 * gib) == "1g"
    assert job.local_driver_memory("yarn", {}, 24 * gib) is None
    assert job.local_driver_memory("local[2]", {"PYSPARK_GATEWAY_PORT": "1"}, 24 * gib) is None
    assert job.local_driver_memory("local[2]", {"PYSPARK_SUBMIT_ARGS": "--driver-memory 2g pyspark-shell"}, 24 * gib) is None
    assert job.local_driver_memory("local[2]", {"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.memory=2g pyspark-shell"},
                                   24 * gib) is None


def test_a_local_run_s_settings_give_way_to_spark_defaults_conf(tmp_path):
    gib = 1 << 30
    (tmp_path / "spark-defaults.conf").write_text("# the operator's\nspark.driver.memory   8g\n"
                                                  "spark.driver.extraJavaOptions=-Dsome.property=1\n")
    configured = {"SPARK_CONF_DIR": str(tmp_path)}
    assert job.local_driver_memory("local[2]", configured, 24 * gib) is None
    assert job.local_java_options("local[2]", configured) is None
    (tmp_path / "spark-defaults.conf").write_text("#spark.driver.memory 8g\nspark.executor.memory 2g\n")
    assert job.local_driver_memory("local[2]", configured, 24 * gib) == "4g"
    assert job.local_java_options("local[2]", configured) == job.LOCAL_JAVA_OPTIONS
    assert job._spark_defaults({"SPARK_CONF_DIR": str(tmp_path / "absent")}) == set()


def test_a_local_run_s_jvm_compiles_with_c1_only_unless_told_otherwise(spark):
    assert job.local_java_options("local[2]", {}) == job.LOCAL_JAVA_OPTIONS == "-XX:TieredStopAtLevel=1"
    assert job.local_java_options(None, {}) == job.LOCAL_JAVA_OPTIONS
    assert job.local_java_options("yarn", {}) is None
    assert job.local_java_options("spark://host:7077", {}) is None
    assert job.local_java_options("local[2]", {"PYSPARK_GATEWAY_PORT": "1"}) is None
    assert job.local_java_options("local[2]", {"PYSPARK_SUBMIT_ARGS": "--driver-java-options -Xss4m pyspark-shell"}) is None
    assert job.local_java_options(
        "local[2]", {"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.extraJavaOptions=-Xss4m pyspark-shell"}) is None
    # The session the job starts (the tests' own, by start_session) is a JVM launched with them.
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    if job.local_java_options("local[2]") is not None:  # unless this machine's Spark configuration sets them
        assert job.LOCAL_JAVA_OPTIONS in list(runtime.getInputArguments())


def test_the_summary_records_the_driver_memory(spark, spark_pca_run):
    _, summary = spark_pca_run
    assert summary["spark"]["driver_memory"] == spark.sparkContext.getConf().get("spark.driver.memory", "1g")


def test_feature_rows_go_between_arrow_and_numpy_without_a_copy_per_row():
    import pyarrow as pa
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    lists = job._lists(rows)
    assert lists.type == pa.list_(pa.float32()) and lists.to_pylist() == rows.tolist()
    assert np.array_equal(job._rows(lists), rows)
    assert np.array_equal(job._rows(lists.slice(1, 2)), rows[1:3])  # a slice of a batch: offsets not from 0
    assert job._rows(lists.slice(0, 0)).shape == (0, 0)
    with pytest.raises(ValueError, match="null"):
        job._rows(pa.array([[1.0, 2.0], None], type=pa.list_(pa.float32())))
    with pytest.raises(ValueError, match="different lengths"):
        job._rows(pa.array([[1.0, 2.0], [3.0], [4.0, 5.0, 6.0]], type=pa.list_(pa.float32())))


def test_arrow_batches_are_bounded_in_images_and_bytes(spark):
    job.configure_arrow_batches(spark, None)
    assert spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == str(job.RECORDS_PER_BATCH)
    assert spark.conf.get("spark.sql.execution.arrow.maxBytesPerBatch") == str(job.BYTES_PER_BATCH)
    job.configure_arrow_batches(spark, 7)
    assert spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "7"


def test_spark_pca_explains_the_variance_the_project_s_pca_does(spark_pca_run):
    output, summary = spark_pca_run
    raw, _ = read_features(output / "raw_features")
    names = sorted(raw)
    x = np.stack([raw[name] for name in names])
    ours = fruitfeatures.PCA.fit(x, components=K, centred=False)
    theirs = np.array(summary["pca"]["explained_variance_ratio"])
    assert summary["pca"]["method"] == "spark" and theirs.shape == (K,)
    assert np.abs(theirs - ours.explained_variance_ratio_).max() <= 1e-6
    # pyspark.ml projects x without centring; its axes may point the other way than scikit-learn's signs.
    projected, _ = read_features(output / "features")
    spark_projection = np.stack([projected[name] for name in names])
    our_projection = ours.project(x)
    scale = np.abs(our_projection).max()
    assert np.abs(np.abs(spark_projection) - np.abs(our_projection)).max() <= 1e-5 * scale


def test_csv_has_path_label_and_one_column_per_component(spark_pca_run):
    output, _ = spark_pca_run
    parts = glob.glob(str(output / "features_csv" / "*.csv"))
    frame = pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)
    assert list(frame.columns) == ["path", "label"] + [f"feature_{i}" for i in range(K)]
    projected, _ = read_features(output / "features")
    assert len(frame) == 9
    for _, row in frame.iterrows():
        values = row[[f"feature_{i}" for i in range(K)]].to_numpy(dtype=np.float64)
        expected = projected[relative(row["path"])]
        assert np.abs(values - expected).max() <= 1e-6 * max(1.0, np.abs(expected).max())


def test_own_pca_from_distributed_statistics_equals_the_project_s_pca(own_pca_run):
    output, summary = own_pca_run
    raw, _ = read_features(output / "raw_features")
    names = sorted(raw)
    x = np.stack([raw[name] for name in names])
    ours = fruitfeatures.PCA.fit(x, components=K_DEFAULT, centred=True)
    pca = summary["pca"]
    assert pca["method"] == "own" and pca["centred"] is True and pca["components"] == K_DEFAULT
    assert summary["warnings"] == [
        f"{K_DEFAULT + 1} images support at most {K_DEFAULT} components; keeping {K_DEFAULT} instead of 200"]
    assert np.abs(np.array(pca["explained_variance_ratio"]) - ours.explained_variance_ratio_).max() <= 1e-6
    variance = np.array(pca["explained_variance"])
    assert np.all(np.abs(variance - ours.explained_variance_) <= 1e-6 * ours.explained_variance_)
    saved = fruitfeatures.PCA.open(output / "pca.h5")
    assert saved.sample_count == 9 and saved.centred
    projected, _ = read_features(output / "features")
    expected = ours.project(x)
    assert np.abs(np.stack([projected[name] for name in names]) - expected).max() <= 1e-5 * np.abs(expected).max()


def test_a_saved_pca_model_is_applied_as_saved(spark, images, own_pca_run, tmp_path):
    fitted_output, _ = own_pca_run
    output = tmp_path / "out"
    summary = run_job(spark, images, output, "--pca-model", str(fitted_output / "pca.h5"))
    assert summary["pca"]["method"] == "saved" and summary["pca"]["components"] == K_DEFAULT
    applied, _ = read_features(output / "features")
    fitted, _ = read_features(fitted_output / "features")
    assert sorted(applied) == sorted(fitted)
    for name in fitted:
        assert np.abs(applied[name] - fitted[name]).max() <= 1e-5 * max(1.0, np.abs(fitted[name]).max())


def test_raw_features_equal_the_command_line_s(spark_pca_run, cli_run):
    output, _ = spark_pca_run
    cli, _ = read_features(cli_run / "raw_features.parquet")
    ours, _ = read_features(output / "raw_features")
    assert sorted(cli) == sorted(ours)
    for name in cli:
        assert np.abs(cli[name] - ours[name]).max() <= 1e-5, name
    cli_errors = pd.read_csv(cli_run / "errors.csv")
    assert [relative(path) for path in cli_errors["path"]] == ["Apple/corrupt.jpg"]


def test_explained_variance_equals_the_command_line_s(spark_pca_run, own_pca_run, cli_run):
    with open(cli_run / "summary.json") as file:
        cli = json.load(file)["pca"]
    assert cli["components"] == K_DEFAULT and cli["centred"] is True
    for _, summary in (spark_pca_run, own_pca_run):
        ratio = np.array(summary["pca"]["explained_variance_ratio"])
        assert len(ratio) == summary["pca"]["components"]
        expected = np.array(cli["explained_variance_ratio"][:len(ratio)])
        assert np.abs(ratio - expected).max() <= 1e-6, summary["pca"]["method"]
    variance = np.array(own_pca_run[1]["pca"]["explained_variance"])
    assert np.all(np.abs(variance - cli["explained_variance"]) <= 1e-6 * np.array(cli["explained_variance"]))


def test_the_command_line_s_pca_model_applied_on_spark_gives_its_features(spark, images, cli_run, tmp_path):
    output = tmp_path / "out"
    summary = run_job(spark, images, output, "--pca-model", str(cli_run / "pca.h5"))
    assert summary["pca"]["method"] == "saved" and summary["pca"]["centred"] is True
    assert summary["pca"]["components"] == K_DEFAULT
    ours, _ = read_features(output / "features")
    cli, _ = read_features(cli_run / "features.parquet")
    assert sorted(ours) == sorted(cli)
    scale = max(np.abs(v).max() for v in cli.values())
    for name in cli:
        assert np.abs(ours[name] - cli[name]).max() <= 1e-5 * scale, name


def test_every_row_carries_the_sha256_of_its_bytes(spark_pca_run):
    output, summary = spark_pca_run
    for name in ("raw_features", "features"):
        frame = pd.read_parquet(output / name)
        for path, sha256 in zip(frame["path"], frame["sha256"]):
            with open(path[len("file:"):] if path.startswith("file:") else path, "rb") as file:
                assert sha256 == hashlib.sha256(file.read()).hexdigest(), path
    raw = pd.read_parquet(output / "raw_features")
    for path, size in zip(raw["path"], raw["size"]):
        assert size == os.path.getsize(path[len("file:"):])
    assert summary["duplicates"] == {"groups": 0, "files": 0, "label_conflicts": 0}
    empty = pd.read_parquet(output / "duplicates")
    assert len(empty) == 0 and list(empty.columns) == ["sha256", "path", "label"]


def _tree(tmp_path, extra=()):
    root = tmp_path / "images"
    shutil.copytree(os.path.join(FIXTURES, "images"), root)
    for source, target in extra:
        shutil.copyfile(root / source, root / target)
    return root


def test_duplicates_and_label_conflicts_are_listed(spark, tmp_path):
    root = _tree(tmp_path, [("Apple/0_100.jpg", "Banana/apple.jpg"), ("Apple/0_100.jpg", "Apple/copy.jpg")])
    summary = run_job(spark, root, tmp_path / "out", "--pca", "none")
    assert summary["duplicates"] == {"groups": 1, "files": 3, "label_conflicts": 1}
    assert any("label conflicts" in warning for warning in summary["warnings"])
    duplicates = pd.read_parquet(tmp_path / "out" / "duplicates")
    assert list(duplicates.columns) == ["sha256", "path", "label"]
    assert sorted(relative(path) for path in duplicates["path"]) == ["Apple/0_100.jpg", "Apple/copy.jpg", "Banana/apple.jpg"]
    assert len(set(duplicates["sha256"])) == 1


def _change(root):
    near = os.path.join(FIXTURES, "analysis", "near_copies")
    shutil.copyfile(os.path.join(near, "Apple_0_100_q70.jpg"), root / "Apple" / "new.jpg")          # new bytes
    os.remove(root / "Banana" / "2_100.jpg")
    shutil.copyfile(os.path.join(near, "Banana_0_100_q70.jpg"), root / "Banana" / "2_100.jpg")     # changed bytes
    os.rename(root / "Lemon" / "0_100.jpg", root / "Lemon" / "renamed.jpg")                         # moved
    shutil.copyfile(root / "Apple" / "1_100.jpg", root / "Banana" / "copy.jpg")                     # copied
    os.remove(root / "Banana" / "1_100.jpg")                                                        # removed


def _by_path(directory):
    frame = pd.read_parquet(directory)
    return {relative(path): row for path, row in zip(frame["path"], frame.to_dict("records"))}


def test_update_equals_a_fresh_run_and_extracts_only_new_bytes(spark, tmp_path):
    root = _tree(tmp_path)
    output = tmp_path / "out"
    arguments = ("--pca", "own", "--centring", "centred", "--components", "3")
    first = run_job(spark, root, output, *arguments)
    assert first["settings"] == {"glob": "*.jpg", "components": 3, "pca": "own", "pca_model": None,
                                 "centring": "centred", "csv": False, "weights": os.path.realpath(WEIGHTS)}
    _change(root)
    # Only --update (and an operational option): input, weights and settings come from summary.json.
    summary = run_job(spark, root, output, "--update", "--partitions", "2", weights=None)
    assert summary["settings"] == first["settings"]
    assert summary["pca"]["method"] == "own" and summary["pca"]["components"] == 3 and summary["pca"]["centred"]
    assert summary["update"] == {"reused": 6, "new": 1, "changed": 1, "moved": 2, "removed": 2, "failed": 0,
                                 "network_passes": 2, "pca": "refit"}
    assert not os.path.exists(output / "_update") and not os.path.exists(output / "_previous")
    with open(output / "summary.json") as file:
        assert json.load(file) == summary
    fresh = run_job(spark, root, tmp_path / "fresh", *arguments)
    assert fresh["images"] == summary["images"] and fresh["duplicates"] == summary["duplicates"]
    updated, again = _by_path(output / "raw_features"), _by_path(tmp_path / "fresh" / "raw_features")
    assert sorted(updated) == sorted(again)
    for name in again:
        assert updated[name]["sha256"] == again[name]["sha256"], name
        assert np.array_equal(np.asarray(updated[name]["features"], dtype=np.float32).view(np.uint32),
                              np.asarray(again[name]["features"], dtype=np.float32).view(np.uint32)), name
    updated, again = _by_path(output / "features"), _by_path(tmp_path / "fresh" / "features")
    scale = max(np.abs(row["features"]).max() for row in again.values())
    for name in again:
        assert np.abs(np.asarray(updated[name]["features"]) - np.asarray(again[name]["features"])).max() <= 1e-5 * scale

    # --keep-pca projects with the earlier pca.h5, unchanged.
    with open(output / "pca.h5", "rb") as file:
        before = file.read()
    shutil.copyfile(os.path.join(FIXTURES, "analysis", "near_copies", "Lemon_0_100_q70.jpg"), root / "Lemon" / "new.jpg")
    kept = run_job(spark, root, output, *arguments, "--update", "--keep-pca")
    assert kept["update"]["pca"] == "kept" and kept["update"]["network_passes"] == 1 and kept["update"]["reused"] == 10
    with open(output / "pca.h5", "rb") as file:
        assert file.read() == before


def test_an_update_refuses_options_that_differ_from_the_run_s(spark, tmp_path):
    """An option given with another value than OUTPUT/summary.json's is an error naming both, before anything is
    read or written; options given with the recorded value, and operational ones, are accepted."""
    root = _tree(tmp_path)
    output = tmp_path / "out"
    os.makedirs(output)
    earlier = {"input": str(root), "input_absolute": os.path.realpath(root), "weights": WEIGHTS,
               "settings": {"glob": "*.jpg", "components": 3, "pca": "own", "pca_model": None,
                            "centring": "centred", "csv": False, "weights": os.path.realpath(WEIGHTS)}}
    (output / "summary.json").write_text(json.dumps(earlier))
    listing = sorted(os.listdir(output))
    cases = [
        (["--components", "4"], "--components 4 (the run has 3)"),
        (["--glob", "*.jpeg"], "--glob *.jpeg (the run has *.jpg)"),
        (["--centring", "uncentred"], "--centring uncentred (the run has centred)"),
        (["--pca", "spark"], "--pca spark (the run has own)"),
        (["--pca-model", str(tmp_path / "pca.h5")], f"--pca-model {tmp_path / 'pca.h5'} (the run has none)"),
        (["--csv"], "--csv (the run writes no CSV)"),
        (["--weights", str(tmp_path / "other.h5")], f"--weights {tmp_path / 'other.h5'} (the run has {os.path.realpath(WEIGHTS)})"),
    ]
    for arguments, message in cases:
        options = job.parse_arguments([str(root), str(output), "--update", "--partitions", "3", *arguments])
        with pytest.raises(SystemExit, match="--update keeps the run's settings; these differ: ") as refusal:
            job.run(spark, options)
        assert message in str(refusal.value), (arguments, str(refusal.value))
        assert sorted(os.listdir(output)) == listing
    # Another input folder is named with the recorded one.
    other = tmp_path / "other"
    os.makedirs(other)
    with pytest.raises(SystemExit) as refusal:
        job.run(spark, job.parse_arguments([str(other), str(output), "--update"]))
    assert f"INPUT {os.path.realpath(other)} (the run was made from {os.path.realpath(root)})" in str(refusal.value)
    # Values equal to the recorded ones are settled without error, the rest inherited.
    options = job.parse_arguments([str(root), str(output), "--update", "--components", "3", "--pca", "own",
                                   "--weights", WEIGHTS, "--max-records-per-batch", "4"])
    job.resolve_update_settings(options, earlier)
    assert (options.glob, options.components, options.pca, options.centring, options.csv, options.weights) == (
        "*.jpg", 3, "own", "centred", False, WEIGHTS)
    assert sorted(os.listdir(output)) == listing


def test_the_job_runs_mobilenet_v3_as_it_runs_mobilenet_v2(spark, tmp_path):
    """A MobileNetV3-Large weights file: the executors load it through the C ABI, which recognises the
    architecture; the raw features equal tf.keras's (Fixtures/golden/keras3, Scripts/make_keras3_fixtures.py)."""
    directory = os.path.join(FIXTURES, "golden", "keras3")
    with open(os.path.join(directory, "index.json")) as file:
        index = json.load(file)
    name = "mobilenet_v3_large_1.0_legacy.h5"
    expected = np.fromfile(os.path.join(directory, name.replace(".", "_") + ".f32"), dtype="<f4")
    expected = expected.reshape(len(index["images"]), -1)
    summary = run_job(spark, os.path.join(FIXTURES, "images"), tmp_path / "out", "--pca", "none",
                      weights=os.path.join(FIXTURES, index["files"][name]["weights"]))
    assert summary["images"]["failed"] == 0
    features, _ = read_features(tmp_path / "out" / "raw_features")
    assert {len(vector) for vector in features.values()} == {960}
    for path, row in zip(index["images"], expected):
        assert np.abs(features[relative(path)] - row).max() <= 1e-4, path

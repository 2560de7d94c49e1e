#!/usr/bin/env python3
"""Checks Parquet files written by FruitFeatures with independent readers.

    python Scripts/check_parquet.py EXPECTED.json [--readers pyarrow,pandas,duckdb,spark]

EXPECTED.json (written by the Swift tests) lists files and what each must contain:

    {"files": [{"file": "/abs/a.parquet", "feature_count": 3, "compression": "SNAPPY",
                "page_checksums": true, "min_row_groups": 2, "metadata": {"key": "value"},
                "paths": [...], "labels": [...], "null_rows": [indices of rows whose features are null],
                "features_file": "/abs/a.f32"}]}

`features_file` holds rows x feature_count little-endian float32 values (zeros for null rows).
Every reader must see the schema path: string, label: string, features: list<float> and the exact
values (compared as float32 bit patterns). All Spark checks share one Spark session, because
starting Spark takes seconds. Exits with status 1 and lists the failures if any check fails.
"""

import argparse
import json
import sys

import numpy as np

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


class Expected:
    def __init__(self, spec):
        self.file = spec["file"]
        self.k = spec["feature_count"]
        self.compression = spec["compression"]
        self.page_checksums = spec["page_checksums"]
        self.min_row_groups = spec["min_row_groups"]
        self.metadata = spec["metadata"]
        self.paths = spec["paths"]
        self.labels = spec["labels"]
        self.rows = len(self.paths)
        self.null = np.zeros(self.rows, dtype=bool)
        self.null[spec["null_rows"]] = True
        self.features = np.fromfile(spec["features_file"], dtype="<f4").reshape(self.rows, self.k)

    def name(self):
        return self.file.rsplit("/", 1)[-1]

    def bits(self):
        """Expected bit patterns of the non-null rows, concatenated."""
        return self.features[~self.null].ravel().view("<u4")


def bits_of(values):
    return np.asarray(values, dtype="<f4").view("<u4")


def check_bits(actual, e, name):
    """Compares the float32 bit patterns of the non-null rows' features, concatenated."""
    expected = e.bits()
    if actual.shape != expected.shape:
        return check(False, f"{name}: {actual.size} feature values, expected {expected.size}")
    differing = np.nonzero(actual != expected)[0]
    if differing.size == 0:
        return True
    i = differing[0]
    return check(False, f"{name}: {differing.size} feature values differ, the first at {i}: "
                 f"bits {actual[i]:#010x} instead of {expected[i]:#010x}")


def utf8_min_max(strings):
    """Min and max by unsigned byte-wise comparison of UTF-8, the order of Parquet string statistics."""
    keys = sorted(s.encode("utf-8") for s in strings)
    return keys[0].decode("utf-8"), keys[-1].decode("utf-8")


def check_pyarrow(e):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = f"pyarrow {e.name()}"
    parquet = pq.ParquetFile(e.file)
    meta = parquet.metadata
    check(meta.num_rows == e.rows, f"{name}: {meta.num_rows} rows, expected {e.rows}")
    check(meta.created_by.startswith("fruitfeatures version "), f"{name}: created_by {meta.created_by!r}")
    check(meta.num_row_groups >= e.min_row_groups,
          f"{name}: {meta.num_row_groups} row groups, expected at least {e.min_row_groups}")
    stored = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
    check(stored == e.metadata, f"{name}: key-value metadata {stored}, expected {e.metadata}")

    schema = parquet.schema  # the Parquet-level schema
    leaf = schema.column(2)
    check(leaf.path == "features.list.element" and leaf.physical_type == "FLOAT"
          and leaf.max_definition_level == 3 and leaf.max_repetition_level == 1,
          f"{name}: features leaf {leaf.path} {leaf.physical_type} "
          f"def {leaf.max_definition_level} rep {leaf.max_repetition_level}")
    for i in range(2):
        column = schema.column(i)
        check(column.physical_type == "BYTE_ARRAY" and str(column.logical_type) == "String",
              f"{name}: column {column.path} is {column.physical_type} {column.logical_type}")

    # Row-group statistics must be exact: readers skip row groups with them.
    start = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        end = start + group.num_rows
        for c, strings in ((0, e.paths), (1, e.labels)):
            chunk = group.column(c)
            check(chunk.compression == e.compression,
                  f"{name}: row group {g} column {c} compression {chunk.compression}, expected {e.compression}")
            stats = chunk.statistics
            if check(stats is not None and stats.has_min_max, f"{name}: row group {g} column {c} has no min/max"):
                expected_min, expected_max = utf8_min_max(strings[start:end])
                check(stats.min == expected_min and stats.max == expected_max and stats.null_count == 0,
                      f"{name}: row group {g} column {c} statistics {stats.min!r}..{stats.max!r} "
                      f"nulls {stats.null_count}, expected {expected_min!r}..{expected_max!r} nulls 0")
        start = end
    check(start == e.rows, f"{name}: row groups hold {start} rows, expected {e.rows}")

    table = pq.read_table(e.file, page_checksum_verification=e.page_checksums)
    check(table.schema.field("path").type == pa.string(), f"{name}: path is {table.schema.field('path').type}")
    check(table.schema.field("label").type == pa.string(), f"{name}: label is {table.schema.field('label').type}")
    features_type = table.schema.field("features").type
    if not check(pa.types.is_list(features_type) and features_type.value_type == pa.float32(),
                 f"{name}: features is {features_type}, expected list<float>"):
        return
    check(table.column("path").to_pylist() == e.paths, f"{name}: paths differ")
    check(table.column("label").to_pylist() == e.labels, f"{name}: labels differ")
    features = table.column("features").combine_chunks()
    nulls = np.asarray(features.is_null().to_pylist(), dtype=bool)
    check(np.array_equal(nulls, e.null), f"{name}: null rows {np.nonzero(nulls)[0]}, expected {np.nonzero(e.null)[0]}")
    lengths = pc.list_value_length(features).to_pylist()
    check(all(n == e.k for n, null in zip(lengths, e.null) if not null),
          f"{name}: list lengths {set(lengths)}, expected {e.k}")
    actual = bits_of(features.flatten().to_numpy(zero_copy_only=False))
    check_bits(actual, e, name)


def check_pandas(e):
    import pandas as pd

    name = f"pandas {e.name()}"
    frame = pd.read_parquet(e.file)
    check(list(frame.columns) == ["path", "label", "features"], f"{name}: columns {list(frame.columns)}")
    check(len(frame) == e.rows, f"{name}: {len(frame)} rows, expected {e.rows}")
    check(list(frame["path"]) == e.paths, f"{name}: paths differ")
    check(list(frame["label"]) == e.labels, f"{name}: labels differ")
    arrays = []
    for i, value in enumerate(frame["features"]):
        if e.null[i]:
            check(value is None, f"{name}: row {i} features {type(value)}, expected None")
            continue
        if not check(isinstance(value, np.ndarray) and value.dtype == np.float32 and value.shape == (e.k,),
                     f"{name}: row {i} features {type(value)} {getattr(value, 'dtype', '')} "
                     f"{getattr(value, 'shape', '')}, expected float32 array of {e.k}"):
            return
        arrays.append(value)
    actual = bits_of(np.concatenate(arrays)) if arrays else np.zeros(0, dtype="<u4")
    check_bits(actual, e, name)


def check_duckdb(e):
    import duckdb

    name = f"duckdb {e.name()}"
    con = duckdb.connect()
    types = [(row[0], row[1]) for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [e.file]).fetchall()]
    check(types == [("path", "VARCHAR"), ("label", "VARCHAR"), ("features", "FLOAT[]")],
          f"{name}: schema {types}")
    quoted = "'" + e.file.replace("'", "''") + "'"
    relation = con.sql(f"SELECT path, label, features FROM read_parquet({quoted})")
    # DuckDB 1.4 and later name it to_arrow_table; older versions arrow().
    table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    check(table.column("path").to_pylist() == e.paths, f"{name}: paths differ")
    check(table.column("label").to_pylist() == e.labels, f"{name}: labels differ")
    features = table.column("features").combine_chunks()
    nulls = np.asarray(features.is_null().to_pylist(), dtype=bool)
    check(np.array_equal(nulls, e.null), f"{name}: null rows differ")
    actual = bits_of(features.flatten().to_numpy(zero_copy_only=False))
    check_bits(actual, e, name)
    # Filters prune row groups by their min/max statistics: wrong statistics lose rows here.
    for column, values in (("label", e.labels), ("path", e.paths)):
        for value in sorted(set(values))[:20]:
            (count,) = con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {column} = ?", [e.file, value]).fetchone()
            check(count == values.count(value), f"{name}: {column} = {value!r} finds {count} rows, expected {values.count(value)}")
    (lengths,) = con.execute("SELECT list(DISTINCT len(features)) FROM read_parquet(?) WHERE features IS NOT NULL",
                             [e.file]).fetchone()
    # list() over no rows (all features null) is NULL.
    check(lengths == ([e.k] if (~e.null).any() else None), f"{name}: list lengths {lengths}, expected {e.k}")


def check_spark(expected):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("check_parquet")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.hadoop.parquet.page.verify-checksum.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        # Both of Spark's Parquet readers: the vectorized one and parquet-mr's record reader.
        for vectorized in ("true", "false"):
            spark.conf.set("spark.sql.parquet.enableVectorizedReader", vectorized)
            for e in expected:
                name = f"spark (vectorized={vectorized}) {e.name()}"
                try:
                    check_spark_file(spark, e, name)
                except Exception as error:  # a reader refusing the file is a failure to report
                    failures.append(f"{name}: {type(error).__name__}: {error}")
    finally:
        spark.stop()


def check_spark_file(spark, e, name):
    frame = spark.read.parquet(e.file)
    fields = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
    if not check(fields == [("path", "string"), ("label", "string"), ("features", "array<float>")],
                 f"{name}: schema {fields}"):
        return
    # Paths are unique in the test files; match rows by path rather than rely on row order.
    rows = {row["path"]: row for row in frame.collect()}
    if not check(len(rows) == e.rows and set(rows) == set(e.paths), f"{name}: paths differ"):
        return
    actual = []
    for i, path in enumerate(e.paths):
        row = rows[path]
        check(row["label"] == e.labels[i], f"{name}: row {i} label {row['label']!r}")
        if e.null[i]:
            check(row["features"] is None, f"{name}: row {i} features should be null")
        elif check(row["features"] is not None and len(row["features"]) == e.k, f"{name}: row {i} features length"):
            actual.extend(row["features"])
    check_bits(bits_of(actual), e, name)
    # Spark pushes equality filters down to the row-group statistics: wrong statistics lose rows here.
    for label in sorted(set(e.labels)):
        count = frame.filter(frame.label == label).count()
        check(count == e.labels.count(label),
              f"{name}: label = {label!r} finds {count} rows, expected {e.labels.count(label)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("expected", help="JSON file listing the Parquet files and their expected contents")
    parser.add_argument("--readers", default="pyarrow,pandas,duckdb,spark",
                        help="comma-separated subset of pyarrow,pandas,duckdb,spark (default: all)")
    args = parser.parse_args()
    with open(args.expected, encoding="utf-8") as f:
        expected = [Expected(spec) for spec in json.load(f)["files"]]
    readers = args.readers.split(",")
    checks = {"pyarrow": check_pyarrow, "pandas": check_pandas, "duckdb": check_duckdb}
    for reader in readers:
        if reader in checks:
            for e in expected:
                try:
                    checks[reader](e)
                except Exception as error:  # a reader refusing the file is a failure to report
                    failures.append(f"{reader} {e.name()}: {type(error).__name__}: {error}")
        elif reader != "spark":
            parser.error(f"unknown reader {reader}")
    if "spark" in readers:
        try:
            check_spark(expected)
        except Exception as error:
            failures.append(f"spark: {type(error).__name__}: {error}")
    if failures:
        print(f"{len(failures)} check(s) failed:")
        for failure in failures:
            print("  " + failure)
        sys.exit(1)
    print(f"ok: {len(expected)} file(s) read by {', '.join(readers)}")


if __name__ == "__main__":
    main()

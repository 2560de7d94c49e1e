#!/usr/bin/env python3
"""Parquet files written by pyarrow for ParquetFileReader's tests, and a dump of files as pyarrow reads them.

    parquet_reader_cases.py write DIR   # writes DIR/<case>.parquet and DIR/expected.json
    parquet_reader_cases.py dump FILE   # prints FILE's columns as JSON (floats as float32 bit patterns)

The files have the schema FruitFeatures writes (path, label, features list<float>, and the identity
columns sha256, size, mtime_ns), written with the settings pyarrow and Spark users meet: dictionary
encoding on and off, data pages version 1 and 2, Snappy, Zstandard and no compression, null rows,
several row groups, and an empty file. Values are generated from a fixed seed, so every run writes the
same rows; expected.json holds them as pyarrow wrote them.
"""
import json
import struct
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def bits(values):
    return [struct.unpack("<I", struct.pack("<f", float(v)))[0] for v in np.asarray(values, dtype=np.float32)]


def table(rows, k, identity, null_every, seed):
    rng = np.random.default_rng(seed)
    names = ["Apple", "Äpfel, \"rot\"", "梨", "line\nbreak"]
    labels = [names[i % 4] for i in range(rows)]
    paths = ["in/" + labels[i] + "/" + str(i) + ".jpg" for i in range(rows)]
    features = []
    for i in range(rows):
        if null_every and i % null_every == 0:
            features.append(None)
            continue
        values = rng.standard_normal(k).astype(np.float32)
        if i == 1:
            specials = np.array([-0.0, 0.0, np.inf, -np.inf, 1e-45, 3.4028235e38], dtype=np.float32)
            values[: min(k, len(specials))] = specials[: min(k, len(specials))]
        features.append(values)
    columns = {
        "path": pa.array(paths, pa.string()),
        "label": pa.array(labels, pa.string()),
        "features": pa.array(features, pa.list_(pa.float32())),
    }
    if identity:
        columns["sha256"] = pa.array([f"{(i * 7919) % 97:064x}" for i in range(rows)], pa.string())
        columns["size"] = pa.array([1000 + 37 * i for i in range(rows)], pa.int64())
        columns["mtime_ns"] = pa.array([1_700_000_000_123_456_789 + i * 1_000_000_007 for i in range(rows)], pa.int64())
    return pa.table(columns)


CASES = [
    # name, rows, k, identity, null_every, write options
    ("dictionary_v1_snappy", 300, 1280, True, 0, dict(compression="snappy", use_dictionary=True, data_page_version="1.0", row_group_size=120)),
    ("plain_v1_zstd", 200, 200, True, 13, dict(compression="zstd", use_dictionary=False, data_page_version="1.0", row_group_size=64)),
    ("plain_v2_uncompressed", 50, 7, True, 5, dict(compression="none", use_dictionary=False, data_page_version="2.0")),
    ("dictionary_v2_zstd", 120, 3, False, 0, dict(compression="zstd", use_dictionary=True, data_page_version="2.0", data_page_size=256)),
    ("checksums_v1_snappy", 40, 16, True, 0, dict(compression="snappy", write_page_checksum=True, use_dictionary=False)),
    ("empty", 0, 4, True, 0, dict(compression="snappy")),
]


def describe(tbl):
    d = {"row_count": tbl.num_rows, "columns": tbl.column_names}
    for name in tbl.column_names:
        column = tbl.column(name).to_pylist()
        if name == "features":
            d[name] = [None if v is None else bits(v) for v in column]
        else:
            d[name] = column
    return d


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        directory = sys.argv[2]
        expected = []
        for seed, (name, rows, k, identity, null_every, options) in enumerate(CASES):
            tbl = table(rows, k, identity, null_every, seed)
            path = f"{directory}/{name}.parquet"
            pq.write_table(tbl, path, **options)
            entry = describe(pq.read_table(path))
            entry["file"] = path
            entry["name"] = name
            entry["row_groups"] = pq.ParquetFile(path).num_row_groups
            expected.append(entry)
        with open(f"{directory}/expected.json", "w") as out:
            json.dump(expected, out)
    elif len(sys.argv) == 3 and sys.argv[1] == "dump":
        file = pq.ParquetFile(sys.argv[2])
        entry = describe(file.read())
        entry["schema"] = str(file.schema_arrow)
        json.dump(entry, sys.stdout)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes Fixtures/hdf5/types.h5: the HDF5 storage types the Swift HDF5 layer must read, and
Fixtures/hdf5/types.json: what each object holds, as h5py reads it back.

    python Scripts/make_hdf5_fixtures.py      (needs h5py and numpy)

Covered: float16/float64/int32/big-endian float32 datasets (read as float32), a chunked+compressed dataset,
fixed-length strings padded with NULs, NUL-terminated and space-padded, variable-length strings (scalar and
array, ASCII and UTF-8), an empty float64 array attribute (what Keras writes for "no weights"), numeric
attributes of several widths.
"""
import json
import os

import h5py
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Fixtures", "hdf5")


def fixed_string_type(width, pad):
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(width)
    tid.set_strpad(pad)
    return tid


def write_fixed_strings(obj, name, strings, width, pad):
    """A 1-d fixed-length string attribute with the given padding, written through the low-level API."""
    tid = fixed_string_type(width, pad)
    space = h5py.h5s.create_simple((len(strings),))
    attr = h5py.h5a.create(obj.id, name.encode(), tid, space)
    raw = np.array([s.encode("utf8").ljust(width, b" " if pad == h5py.h5t.STR_SPACEPAD else b"\0")[:width]
                    for s in strings], dtype=f"S{width}")
    attr.write(raw, mtype=tid)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    path = os.path.join(OUT, "types.h5")
    expected = {"datasets": {}, "strings": {}, "numbers": {}}
    with h5py.File(path, "w") as f:
        half = rng.normal(0, 2, (3, 5)).astype(np.float16)
        f.create_dataset("float16", data=half)
        double = rng.normal(0, 1, (4, 2, 3))
        f.create_dataset("float64", data=double)
        ints = rng.integers(-1000, 1000, (7,), dtype=np.int32)
        f.create_dataset("int32", data=ints)
        big = rng.normal(0, 1, (2, 3)).astype(">f4")
        f.create_dataset("float32_big_endian", data=big)
        chunked = rng.normal(0, 1, (30, 20)).astype(np.float32)
        f.create_dataset("group/chunked_gzip", data=chunked, chunks=(16, 16), compression="gzip", shuffle=True)
        for name, values in [("float16", half), ("float64", double), ("int32", ints),
                             ("float32_big_endian", big), ("group/chunked_gzip", chunked)]:
            expected["datasets"][name] = {"shape": list(values.shape),
                                          "float32": [float(v) for v in np.asarray(values, np.float32).ravel()]}

        names = ["Conv1", "bn_Conv1", "block_16_project_BN", "é-ünïcode"]
        write_fixed_strings(f, "fixed_nullpad", names, 24, h5py.h5t.STR_NULLPAD)
        write_fixed_strings(f, "fixed_nullterm", names, 24, h5py.h5t.STR_NULLTERM)
        write_fixed_strings(f, "fixed_spacepad", names, 24, h5py.h5t.STR_SPACEPAD)
        # Exactly as wide as the longest name: no padding at all for that one.
        write_fixed_strings(f, "fixed_exact_width", names, max(len(n.encode()) for n in names), h5py.h5t.STR_NULLPAD)
        f.attrs.create("variable_utf8", names, dtype=h5py.string_dtype("utf-8"))
        f.attrs.create("variable_ascii", [n for n in names if n.isascii()], dtype=h5py.string_dtype("ascii"))
        f.attrs.create("scalar_variable", "tensorflow", dtype=h5py.string_dtype("utf-8"))
        f.attrs.create("scalar_fixed", np.bytes_(b"2.1.6"))
        f.attrs["empty_float_array"] = np.asarray([])
        for key in ["fixed_nullpad", "fixed_nullterm", "fixed_spacepad", "fixed_exact_width", "variable_utf8"]:
            expected["strings"][key] = names
        expected["strings"]["variable_ascii"] = [n for n in names if n.isascii()]
        expected["strings"]["scalar_variable"] = ["tensorflow"]
        expected["strings"]["scalar_fixed"] = ["2.1.6"]
        expected["strings"]["empty_float_array"] = []

        f.attrs.create("int8", np.int8(-5))
        f.attrs.create("uint16", np.uint16(65000))
        f.attrs.create("int64", np.int64(-(2**40)))
        f.attrs.create("float32", np.float32(0.1))
        f.attrs.create("float64", np.float64(1e-300))
        expected["numbers"] = {"int8": -5, "uint16": 65000, "int64": -(2**40),
                               "float32": float(np.float32(0.1)), "float64": 1e-300}

    # Read everything back with h5py so the expectations are what a reference reader sees.
    with h5py.File(path, "r") as f:
        for key, value in expected["strings"].items():
            got = f.attrs[key]
            got = [got] if np.ndim(got) == 0 else list(got)
            got = [g.decode("utf8") if isinstance(g, bytes) else str(g) for g in got]
            assert got == value, (key, got, value)
        for key, value in expected["datasets"].items():
            assert np.array_equal(np.asarray(f[key], np.float32).ravel(), np.array(value["float32"], np.float32))
    with open(os.path.join(OUT, "types.json"), "w") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()

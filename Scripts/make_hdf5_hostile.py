#!/usr/bin/env python3
"""Writes Fixtures/hdf5/hostile/: small HDF5 files that declare more than they hold, or point outside
themselves. They are the cases of Docs/reliability.md ("HDF5 files") and the seed corpus of the HDF5
mutation loop (ReliabilityHDF5FuzzTests).

    .venv/bin/python Scripts/make_hdf5_hostile.py      (needs h5py and numpy; deterministic contents)

A dataset created chunked and never written takes no space in the file, so a file of a few KB can
declare a (2**40, 1280) float64 array: a reader that allocates what the header declares dies.
Every file is written in the oldest format (libver "earliest") so that Debian's libhdf5 1.10 reads it.

Weights-shaped files hold the first two Keras layers of MobileNetV2 (Conv1, bn_Conv1) as
`save_weights` of Keras 3 lays them out; PCA-shaped files follow Sources/FruitFeatures/PCA/PCAModel+HDF5.swift.
"""
import os

import h5py
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Fixtures", "hdf5", "hostile")
HUGE = 2 ** 40


def new(name):
    path = os.path.join(OUT, name)
    if os.path.exists(path):
        os.remove(path)
    # Fixed object times keep the bytes the same from one run of the script to the next.
    return h5py.File(path, "w", libver="earliest", track_order=False)


def weights(name, kernel):
    """A Keras weights file whose Conv1 kernel is made by kernel(group, dataset name)."""
    with new(name) as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "3.4.1"
        f.attrs["layer_names"] = np.array([b"Conv1", b"bn_Conv1"])
        conv = f.create_group("Conv1")
        conv.attrs["weight_names"] = np.array([b"Conv1/kernel"])
        kernel(conv.create_group("Conv1"), "kernel")
        bn = f.create_group("bn_Conv1")
        names = ["gamma", "beta", "moving_mean", "moving_variance"]
        bn.attrs["weight_names"] = np.array([f"bn_Conv1/{n}".encode() for n in names])
        inner = bn.create_group("bn_Conv1")
        for index, n in enumerate(names):
            inner.create_dataset(n, data=np.full(16, 0.5 + index, dtype=np.float32))


def pca(name, k, d, components, extra=None):
    """A PCA file with attributes k and dimension; components(root) makes /components."""
    with new(name) as f:
        f.attrs["format"] = "FruitFeatures PCA"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["k"] = np.int64(k)
        f.attrs["dimension"] = np.int64(d)
        f.attrs["n_samples"] = np.int64(40)
        f.attrs["centred"] = np.int64(1)
        rng = np.random.default_rng(7)
        f.create_dataset("mean", data=rng.standard_normal(d))
        components(f)
        shape = (k,) if k <= 1 << 20 else None
        if shape:
            f.create_dataset("explained_variance", data=np.linspace(2, 1, k))
            f.create_dataset("explained_variance_ratio", data=np.linspace(0.2, 0.1, k))
        else:
            f.create_dataset("explained_variance", shape=(k,), dtype="f8", chunks=(1024,))
            f.create_dataset("explained_variance_ratio", shape=(k,), dtype="f8", chunks=(1024,))
        if extra:
            extra(f)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(2024)

    # Weights: a valid two-layer seed, a kernel declaring 2**40 output channels, a huge chunk, links.
    weights("weights_seed.h5", lambda g, n: g.create_dataset(
        n, data=rng.standard_normal((3, 3, 3, 16)).astype(np.float32)))
    weights("weights_huge_kernel.h5", lambda g, n: g.create_dataset(
        n, shape=(3, 3, 3, HUGE), dtype="f4", chunks=(3, 3, 3, 1024)))
    weights("weights_huge_chunk.h5", lambda g, n: g.create_dataset(
        n, shape=(3, 3, 3, 16), maxshape=(3, 3, 3, None), dtype="f4", chunks=(3, 3, 3, 1 << 24)))

    def external(g, n):
        g[n] = h5py.ExternalLink("weights_huge_kernel.h5", "/Conv1/Conv1/kernel")
    weights("weights_external_kernel.h5", external)

    def soft_inside(g, n):
        g.create_dataset("stored", data=rng.standard_normal((3, 3, 3, 16)).astype(np.float32))
        g[n] = h5py.SoftLink("/Conv1/Conv1/stored")
    weights("weights_soft_kernel.h5", soft_inside)

    def soft_dangling(g, n):
        g[n] = h5py.SoftLink("/nowhere/kernel")
    weights("weights_soft_dangling.h5", soft_dangling)

    # PCA: a valid seed; components declaring (2**40, 1280) against k = 6; k itself 2**40; an external link.
    d = 37
    pca("pca_seed.h5", 6, d, lambda f: f.create_dataset("components", data=rng.standard_normal((6, d))))
    pca("pca_huge_components.h5", 6, 1280,
        lambda f: f.create_dataset("components", shape=(HUGE, 1280), dtype="f8", chunks=(1, 1280)))
    pca("pca_huge_k.h5", HUGE, 1280,
        lambda f: f.create_dataset("components", shape=(HUGE, 1280), dtype="f8", chunks=(1, 1280)))
    pca("pca_external_components.h5", 6, 1280,
        lambda f: f.__setitem__("components", h5py.ExternalLink("pca_huge_components.h5", "/components")))
    pca("pca_chunked_seed.h5", 6, d,
        lambda f: f.create_dataset("components", data=rng.standard_normal((6, d)), chunks=(2, 5),
                                   compression="gzip", shuffle=True))
    pca("pca_huge_chunk.h5", 6, d,
        lambda f: f.create_dataset("components", shape=(6, d), maxshape=(None, d), dtype="f8",
                                   chunks=(1 << 22, d)))
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the PCA golden values in Fixtures/golden/pca/ with scikit-learn.

    /opt/ffref/bin/python Scripts/make_pca_golden.py

Needs numpy and scikit-learn (any version >= 1.5, whose PCA fixes signs from the components:
in each component the entry of largest magnitude is positive). The data is seeded, so rerunning
reproduces the committed files up to the last bits of LAPACK's floating-point rounding.

Every array is a raw little-endian file (.f32 or .f64, row-major); index.json lists each case's
shape, k and files. Cases:
  lowrank  300 x 64: 12-rank structure with distinct scales + small noise, mean offset of a few units.
           Reference: PCA(svd_solver='covariance_eigh'), as pyspark.ml and FruitFeatures do (Gram matrix).
  offset   400 x 48: the same kind of structure on top of a 1e6 offset per column. A float64 Gram
           matrix without centring (XᵀX − n·μμᵀ) loses about 12 digits here: scikit-learn's own
           'covariance_eigh' misses the ratios by ~1e-5 and the projections by ~5e-4 (the script
           asserts it still does), so the reference is PCA(svd_solver='full'), which centres the float64
           data before an SVD, checked against numpy's float64 covariance of the centred data.
  wide     40 x 200: fewer rows than columns, at most a quarter of them, so FruitFeatures keeps the rows
           and fits by an SVD of the centred rows. Reference: PCA(svd_solver='full'), the same route.
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.decomposition import PCA

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "golden", "pca")
SHARES = [0.5, 0.8, 0.9, 0.95, 0.99]


def structured(rng, rows, columns, rank, offset):
    # Latent factors with clearly separated scales, so the leading eigenvectors are well conditioned
    # and two correct implementations agree on them to many digits.
    scales = np.geomspace(40.0, 2.0, rank)
    latent = rng.standard_normal((rows, rank)) * scales
    basis, _ = np.linalg.qr(rng.standard_normal((columns, rank)))
    noise = 0.05 * rng.standard_normal((rows, columns))
    centre = offset + rng.uniform(-3.0, 3.0, columns)
    return (latent @ basis.T + noise + centre).astype(np.float32)


def write(directory, name, array, dtype):
    path = os.path.join(directory, name)
    np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tofile(path)
    return name


def make_case(name, data, k, solver, discriminating=False):
    directory = os.path.join(ROOT, name)
    os.makedirs(directory, exist_ok=True)
    x = data.astype(np.float64)
    rows, columns = x.shape

    model = PCA(n_components=k, svd_solver=solver).fit(x)
    everything = PCA(n_components=min(rows, columns), svd_solver=solver).fit(x)

    # Independent check of the reference: numpy's float64 covariance of the centred data.
    centred = x - x.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centred.T @ centred / (rows - 1))[::-1]
    assert np.allclose(everything.explained_variance_, eigenvalues[: everything.n_components_],
                       rtol=1e-9, atol=1e-9 * eigenvalues[0]), "sklearn disagrees with numpy float64"
    for i, component in enumerate(model.components_):
        assert component[np.argmax(np.abs(component))] > 0, f"component {i}: sign convention changed"

    if discriminating:
        # The case must stay discriminating: an uncentred Gram matrix has to fail the tests' tolerances.
        naive = PCA(n_components=k, svd_solver="covariance_eigh").fit(x)
        assert np.abs(naive.explained_variance_ratio_ - model.explained_variance_ratio_).max() > 1e-6
        assert np.abs(np.abs(naive.transform(x)) - np.abs(model.transform(x))).max() > 1e-4

    shares = {}
    for share in SHARES:
        shares[str(share)] = int(PCA(n_components=share, svd_solver=solver).fit(x).n_components_)

    files = {
        "data": write(directory, "data.f32", data, np.float32),
        "mean": write(directory, "mean.f64", model.mean_, np.float64),
        "components": write(directory, "components.f64", model.components_, np.float64),
        "explained_variance": write(directory, "explained_variance.f64", model.explained_variance_, np.float64),
        "explained_variance_ratio": write(directory, "explained_variance_ratio.f64",
                                          model.explained_variance_ratio_, np.float64),
        "explained_variance_ratio_all": write(directory, "explained_variance_ratio_all.f64",
                                              everything.explained_variance_ratio_, np.float64),
        "transform": write(directory, "transform.f64", model.transform(x), np.float64),
        # pyspark.ml's PCAModel.transform projects without subtracting the mean.
        "transform_uncentred": write(directory, "transform_uncentred.f64", x @ model.components_.T, np.float64),
    }
    return {
        "rows": rows,
        "columns": columns,
        "k": k,
        "solver": solver,
        "total_variance": float(np.sum(everything.explained_variance_)),
        "variance_share_k": shares,
        "files": {key: f"{name}/{value}" for key, value in files.items()},
    }


def main():
    rng = np.random.default_rng(20240531)
    cases = {
        "lowrank": make_case("lowrank", structured(rng, 300, 64, 12, 0.0), 8, "covariance_eigh"),
        "offset": make_case("offset", structured(rng, 400, 48, 12, 1.0e6), 8, "full", discriminating=True),
        "wide": make_case("wide", structured(rng, 40, 200, 12, 0.0), 8, "full"),
    }
    index = {
        "generator": "Scripts/make_pca_golden.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "layout": "raw little-endian, row-major; components are k x columns (sklearn components_)",
        "cases": cases,
    }
    with open(os.path.join(ROOT, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())

"""Mergeable PCA statistics in numpy (float64): row count, column means and centred scatter matrix.

The distributed PCA of fruitfeatures.spark computes one summary per partition and merges them; the result
is what the Swift PCAAccumulator computes on all rows at once, and PCA.fit_statistics fits to it.

Each block of rows is centred on its own mean before its scatter is formed (XᵀX − n·μμᵀ would cancel
catastrophically for data far from the origin); summaries are combined with the pairwise update of Chan,
Golub and LeVeque: M = Mₐ + M_b + δδᵀ·nₐn_b/n, δ = μ_b − μₐ.
"""

import numpy as np

__all__ = ["ScatterStatistics"]


class ScatterStatistics:
    """The count, mean (d) and scatter Σ (x − mean)(x − mean)ᵀ (d, d) of the rows seen so far."""

    __slots__ = ("count", "mean", "scatter")

    def __init__(self, dimension):
        self.count = 0
        self.mean = np.zeros(dimension, dtype=np.float64)
        self.scatter = np.zeros((dimension, dimension), dtype=np.float64)

    @property
    def dimension(self):
        return self.mean.shape[0]

    @classmethod
    def of(cls, rows):
        """The statistics of an (n, d) block of rows."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2:
            raise ValueError(f"rows must be 2-d, not {rows.ndim}-d")
        result = cls(rows.shape[1])
        if rows.shape[0] == 0:
            return result
        if not np.isfinite(rows).all():
            raise ValueError("rows contain a NaN or an infinity")
        mean = rows.mean(axis=0)
        centred = rows - mean
        result.count = rows.shape[0]
        result.mean = mean
        result.scatter = centred.T @ centred  # (d, d)
        return result

    def add(self, rows, block_rows=1024):
        """Folds in an (n, d) block of rows, block_rows at a time (bounds the float64 temporaries)."""
        rows = np.asarray(rows)
        for start in range(0, rows.shape[0], block_rows):
            self.merge(ScatterStatistics.of(rows[start:start + block_rows]))
        return self

    def merge(self, other):
        """Adds the rows summarised by `other` (same dimension); returns self."""
        if other.dimension != self.dimension:
            raise ValueError(f"dimension {other.dimension} does not match {self.dimension}")
        if other.count == 0:
            return self
        if self.count == 0:
            self.count, self.mean, self.scatter = other.count, other.mean.copy(), other.scatter.copy()
            return self
        total = self.count + other.count
        delta = other.mean - self.mean
        self.scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.count * other.count / total)
        self.mean = self.mean + delta * (other.count / total)
        self.count = total
        return self

    def covariance(self):
        """The sample covariance, scatter / (n − 1)."""
        if self.count < 2:
            raise ValueError(f"at least 2 rows are needed, got {self.count}")
        return self.scatter / (self.count - 1)

"""Product quantization for DTQ's search (faiss): the database features are stored as M sub-codebook
indices of b bits each (M b = K bits), queries stay real-valued, and the database is ranked by the
asymmetric quantizer distance (AQD) ||q - z_hat||^2 to each item's reconstruction z_hat."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KMEANS_SEED = 1234  # faiss's own default; fixed so that the same features give the same codebooks


def pq_shape(bits: int, dim: int, n_train: int) -> tuple[int, int]:
    """(M sub-codebooks, b bits each) for a `bits`-bit code of `dim`-dimensional features: the most bits
    per sub-codebook (8, 6, 4, 3, 2, 1) that divide `bits`, with M dividing `dim` and at most `n_train`
    codewords (k-means needs at least as many points as centroids).
    12 -> (2, 6), 24 -> (3, 8), 32 -> (4, 8), 48 -> (6, 8) for D = 96 and >= 256 images."""
    for b in (8, 6, 4, 3, 2, 1):
        m = bits // b
        if bits % b == 0 and dim % m == 0 and 2 ** b <= n_train:
            return m, b
    raise ValueError(f"no product quantizer gives {bits} bits for {dim}-dimensional features and {n_train} "
                     f"database images: choose method.dtq.dim divisible by bits / b for some b in 1..8 "
                     f"with 2^b <= {n_train}")


@dataclass
class ProductQuantizer:
    index: object  # faiss.IndexPQ, trained, holding the database codes
    m: int
    nbits: int

    @property
    def bits(self) -> int:
        return self.m * self.nbits

    def codes(self) -> np.ndarray:
        """(N, code bytes) uint8: the M indices of every database item, packed as faiss stores them."""
        import faiss

        return faiss.vector_to_array(self.index.codes).reshape(self.index.ntotal, -1)

    def reconstruction(self) -> np.ndarray:
        """(N, D) float32: each database item as its codewords."""
        return self.index.reconstruct_n(0, self.index.ntotal)

    def serialize(self) -> np.ndarray:
        import faiss

        return faiss.serialize_index(self.index)


def fit(database: np.ndarray, bits: int, seed: int = KMEANS_SEED) -> ProductQuantizer:
    """Fit the sub-codebooks on the database features (k-means per sub-space) and encode the database."""
    import faiss

    x = np.ascontiguousarray(database, dtype=np.float32)
    m, nbits = pq_shape(bits, x.shape[1], len(x))
    index = faiss.IndexPQ(x.shape[1], m, nbits)
    index.pq.cp.seed = seed
    index.pq.cp.min_points_per_centroid = 1  # small training sets: no warning, the k-means runs as it is
    index.train(x)
    index.add(x)
    return ProductQuantizer(index, m, nbits)


def aqd(queries: np.ndarray, z_hat: np.ndarray) -> np.ndarray:
    """(Q, N) asymmetric quantizer distances ||q - z_hat||^2 (float64)."""
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(z_hat, dtype=np.float64)
    return np.maximum((q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :], 0.0)

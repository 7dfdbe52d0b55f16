"""`itq`: Iterative Quantization (Gong & Lazebnik, CVPR 2011) on the frozen features of
dsah.methods.shallow: PCA of the centred training features to K dimensions (not whitened), V = X P^T,
then method.itq.iterations rounds of  B = sign(V R);  R = W U^T  for B^T V = U S W^T  (the orthogonal
Procrustes solution minimising ||B - V R||^2; FIRe's code applies the transpose, which does not descend),
R starting from the orthogonal factor of a K x K Gaussian drawn from train.seed. Codes sign((f - mean) P^T R).
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from dsah.methods.shallow import Shallow
from dsah.schema import Section


def itq_rotation(v: np.ndarray, iterations: int, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """R (K, K) and the quantization error ||B - V R||^2 / N after each round."""
    r = np.linalg.svd(rng.standard_normal((v.shape[1], v.shape[1])))[0]
    errors = []
    for _ in range(iterations):
        b = np.where(v @ r >= 0, 1.0, -1.0)
        u, _, wt = np.linalg.svd(b.T @ v)
        r = wt.T @ u.T
        errors.append(float(((np.where(v @ r >= 0, 1.0, -1.0) - v @ r) ** 2).sum() / len(v)))
    return r, errors


class Itq(Shallow):
    name = "itq"
    description = "ITQ: PCA to K dimensions and a learned rotation of centred backbone features"

    class Config(Section):
        iterations: int = Field(50, ge=1)  # rotation updates

    def projection_for(self, centred, rng):
        pca = np.linalg.svd(centred, full_matrices=False)[2][: self.bits]  # (K, d)
        r, errors = itq_rotation(centred @ pca.T, self.config.iterations, rng)
        return pca.T @ r, {"quantization_error": errors[-1], "iterations": float(len(errors))}

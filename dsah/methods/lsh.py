"""`lsh`: locality-sensitive hashing by random projections (Charikar, STOC 2002; the sign-of-random-
projection form FIRe's LSH uses): codes sign((f - mean) W), W in R^{d x K} i.i.d. N(0, 1) drawn from
train.seed, on the frozen features of dsah.methods.shallow. Deviation from FIRe: the features are
centred first (ReLU features are non-negative; uncentred, many bits are nearly constant).
"""
from __future__ import annotations


from dsah.methods.shallow import Shallow


class Lsh(Shallow):
    name = "lsh"
    description = "LSH: signs of random projections of centred backbone features (no learning)"

    def projection_for(self, centred, rng):
        return rng.standard_normal((centred.shape[1], self.bits)), {}

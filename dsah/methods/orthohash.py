"""`orthohash`: OrthoHash — one cosine loss (Hoe, Ng, Zhang, Chan, Song, Xiang, NeurIPS 2021).

v = BatchNorm1d(W x) (a bias-free linear layer; the BN balances the bits); a fixed codebook of class codes
c_j in {-1, +1}^K, i.i.d. Bernoulli(1/2) (the reference's default "B"), cos_j = <v / |v|, c_j / |c_j|>:
    L = CE(s (cos - m 1[j = y]))   s = method.orthohash.scale (8), m = method.orthohash.margin (0.2)
Multi-label rows: target distribution y / sum y, the margin subtracted at every positive class (the
reference's rule). No quantization term (reference default). Codes: sign(v).
Deviations: Adam with the protocol's schedule (reference: Adam 1e-4, backbone lr x 0.1, step decay at
80 % of training); the codebook is drawn from train.seed.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from dsah.methods.csq import ClassCodes, distance_stats
from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


def orthohash_loss(v: torch.Tensor, codes: torch.Tensor, y: torch.Tensor, scale: float,
                   margin: float) -> dict[str, torch.Tensor]:
    cos = F.normalize(v, dim=1) @ F.normalize(codes, dim=1).T
    target = F.one_hot(y, codes.shape[0]).float() if y.dim() == 1 else y.float()
    logits = scale * (cos - margin * (target > 0).float())
    target = target / target.sum(dim=1, keepdim=True).clamp_min(1)
    ce = -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    return {"loss": ce}


class OrthoHash(HashOnly):
    name = "orthohash"
    description = "OrthoHash: cosine-margin cross-entropy to a fixed random codebook, BN code layer"
    head = "bn"

    class Config(Section):
        scale: Float = Field(8.0, gt=0)  # s
        margin: Float = Field(0.2, ge=0)  # m, the cosine margin

    def __init__(self, params, bits, device, num_classes=None):
        super().__init__(params, bits, device, num_classes)
        rng = np.random.default_rng(params.train.seed)
        codebook = (rng.integers(0, 2, (self.classes(), bits)) * 2 - 1).astype(np.int8)
        self.codebook = ClassCodes(codebook, params.train.seed).to(device)
        self.codebook_stats = distance_stats(codebook)

    def modules(self):
        return {"hashing": self.net, "codebook": self.codebook}

    def loss(self, v, y):
        return orthohash_loss(v, self.codebook.codes, y, self.config.scale, self.config.margin)

    def end_epoch(self):
        return {**super().end_epoch(), **self.codebook_stats}

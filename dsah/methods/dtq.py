"""`dtq`: Deep Triplet Quantization (Liu, Cao, Long, Wang, Wang, ACM MM 2018) — not a Hamming method.

The network maps an image to z = tanh(W x) in (-1, 1)^D, D = method.dtq.dim. Training: a triplet loss
with "Group Hard" mining,  L = mean max(0, ||z_a - z_p||^2 - ||z_a - z_n||^2 + margin),  where for every
anchor a and positive p != a one negative is drawn uniformly among those with
d(a, n) - d(a, p) < margin; margin = method.dtq.margin (the reference's 30 at D = 64, scaled to D).
The quantization term's weight is 0, the reference's default, so training learns features only.
Search: the database features are product-quantised (faiss IndexPQ: M sub-codebooks of 2^b codewords,
M b = K bits, fitted by k-means on the database = training images) and queries, unquantised, are ranked
by the asymmetric quantizer distance ||q - z_hat||^2 (dsah.pq).
Deviations: the groups are the class-balanced batches (the reference mines in 20 random groups of the
whole training set, recomputed each epoch); product quantization with sub-vectors of D / M dimensions
(the reference's codewords are D-dimensional, additive, encoded by ICM); squared Euclidean ranking (the
reference ranks by inner product); single centre crop at test (the reference averages 10 crops); Adam
with the protocol's schedule (reference: momentum SGD 3e-5).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from dsah.losses import similarity
from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


@torch.no_grad()
def group_hard_triplets(d: torch.Tensor, s: torch.Tensor, margin: float, gen: torch.Generator):
    """(anchor, positive, negative) index tensors: for each anchor and positive p != a, one negative
    drawn uniformly among those with d[a, n] - d[a, p] < margin; pairs without such a negative skipped."""
    n = len(d)
    pos = (s > 0) & ~torch.eye(n, dtype=torch.bool, device=d.device)
    valid = pos[:, :, None] & (s == 0)[:, None, :] & (d[:, None, :] - d[:, :, None] < margin)
    score = torch.rand(valid.shape, generator=gen).to(d.device) * valid  # uniform among the valid ones
    a, p = valid.any(dim=2).nonzero(as_tuple=True)
    return a, p, score.argmax(dim=2)[a, p]


def dtq_loss(z: torch.Tensor, y: torch.Tensor, margin: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    d = torch.cdist(z, z).pow(2)
    a, p, n = group_hard_triplets(d.detach(), similarity(y, y), margin, gen)
    if len(a) == 0:
        loss = z.sum() * 0.0  # no triplet violates the margin: nothing to learn from this batch
    else:
        loss = F.relu(d[a, p] - d[a, n] + margin).mean()
    return {"loss": loss, "triplets": torch.tensor(float(len(a)))}


class Dtq(HashOnly):
    name = "dtq"
    description = "DTQ: triplet loss with group-hard mining; product-quantised database, asymmetric search"
    search = "quantization"
    paper_name = "dtq"

    class Config(Section):
        dim: int = Field(96, ge=2)  # feature dimension D (divisible by the sub-codebook counts used: 2, 3, 4, 6)
        margin: Float = Field(45.0, ge=0)  # triplet margin (reference 30 at D = 64, scaled to D = 96)

    def __init__(self, params, bits, device, num_classes=None):
        super().__init__(params, bits, device, num_classes)
        self.gen = torch.Generator().manual_seed(params.train.seed)  # triplet draws

    @property
    def code_dim(self) -> int:
        return self.config.dim

    def loss(self, z, y):
        return dtq_loss(z, y, self.config.margin, self.gen)

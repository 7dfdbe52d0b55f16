"""`dtsh`: DTSH, deep supervised hashing with triplet labels (ACCV 2016, arXiv 1612.03900).

Within the batch, theta = u u^T (no 1/2). For each anchor a with at least one positive p != a and one
negative n, every (p, n) combination: t = theta_ap - theta_an - margin, clamped to [-100, 50], loss
softplus(-t), averaged over the anchor's combinations, then over such anchors; plus quant_weight x
mean (u - sign u)^2. margin = method.dtsh.margin (5, the reference's), quant_weight 1 (the reference's).
Codes: sign(u), u = tanh(z).
Deviations from the reference code (DHP `DTSH.py`): the anchor is not its own positive (the reference
counts s_ii = 1, which with random batches mostly inflates |u_i|^2; ours are class-balanced and exclude
i = j); u = tanh(z), not the raw output; Adam with the protocol's schedule, not RMSprop 1e-5.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from dsah.losses import similarity
from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


def dtsh_loss(u: torch.Tensor, s: torch.Tensor, margin: float, quant_weight: float) -> dict[str, torch.Tensor]:
    theta = u @ u.T
    eye = torch.eye(len(u), dtype=torch.bool, device=u.device)
    pos, neg = (s > 0) & ~eye, s == 0
    t = (theta[:, :, None] - theta[:, None, :] - margin).clamp(-100, 50)  # [a, p, n]
    mask = (pos[:, :, None] & neg[:, None, :]).float()
    count = mask.sum((1, 2))
    rows = count > 0
    per_row = (F.softplus(-t) * mask).sum((1, 2))[rows] / count[rows]
    triplets = per_row.mean() if rows.any() else u.sum() * 0.0  # no anchor with a positive and a negative
    quant = (u - torch.sign(u)).pow(2).mean()
    return {"loss": triplets + quant_weight * quant, "triplets": triplets, "quantization": quant}


class Dtsh(HashOnly):
    name = "dtsh"
    description = "DTSH: triplet likelihood on theta = u.u, margin 5, + quantization"

    class Config(Section):
        margin: Float = Field(5.0, ge=0)  # t = theta_ap - theta_an - margin (the reference's 5)
        quant_weight: Float = Field(1.0, ge=0)  # weight of mean (u - sign u)^2 (the reference's 1)

    def loss(self, u, y):
        return dtsh_loss(u, similarity(y, y), self.config.margin, self.config.quant_weight)

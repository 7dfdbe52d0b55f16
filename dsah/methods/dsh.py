"""`dsh`: Deep Supervised Hashing (Liu, Wang, Shan, Chen, CVPR 2016).

Loss on the raw outputs u = Wx + b (no tanh), d_ij = ||u_i - u_j||^2, over the pairs i != j of the batch:
    L = mean_ij [ s_ij / 2 d_ij + (1 - s_ij) / 2 max(m - d_ij, 0) ] + alpha mean_ik | |u_ik| - 1 |
with m = 2K (the authors' bi_margin; it must scale with K) and alpha = method.dsh.alpha (0.01, the
paper's and DSHp's). Codes: sign(u).
Deviations: pairs within the class-balanced batch, self-pairs left out (DSHp includes i = j; DHP pairs the
batch with a zero-initialised memory bank); Adam with the protocol's schedule (DSHp: Adam 1e-3, wd 0.004).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from dsah.losses import similarity
from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


def off_diagonal_mean(m: torch.Tensor) -> torch.Tensor:
    """Mean over the pairs i != j of a square batch-by-batch matrix (the whole matrix for one item)."""
    n = m.shape[0]
    if n < 2:
        return m.mean()
    return m[~torch.eye(n, dtype=torch.bool, device=m.device)].mean()


def dsh_loss(u: torch.Tensor, s: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
    margin = 2.0 * u.shape[1]
    d = torch.cdist(u, u).pow(2)
    pairs = off_diagonal_mean(0.5 * s * d + 0.5 * (1 - s) * F.relu(margin - d))
    reg = (u.abs() - 1).abs().mean()
    return {"loss": pairs + alpha * reg, "pairs": pairs, "regulariser": reg}


class Dsh(HashOnly):
    name = "dsh"
    description = "DSH: contrastive loss on raw outputs, margin 2K, |u| regulariser"
    head = "linear"

    class Config(Section):
        alpha: Float = Field(0.01, ge=0)  # weight of mean | |u| - 1 | (the paper's); margin m = 2K

    def loss(self, u, y):
        return dsh_loss(u, similarity(y, y), self.config.alpha)

"""`hashnet`: HashNet — deep learning to hash by continuation (Cao, Long, Wang, Yu, ICCV 2017).

Codes h = tanh(beta z); beta grows during training (continuation), so tanh approaches sign. Loss over
the pairs i != j of the batch, theta_ij = alpha h_i . h_j with alpha = method.hashnet.scale / K (10/K,
the reference's), l_ij = log(1 + e^theta) - s_ij theta, weighted w_ij = |S| / |S_1| for similar and
|S| / |S_0| for dissimilar pairs (the paper's per-batch weights):  L = sum w l / sum w.
No quantization term (the reference's q_weight is 0). Codes: sign(z).
Deviations: beta follows the reference curve sqrt(1 + 0.005 t), t = 0..10 000 iterations, compressed
onto our epochs and stepped once per epoch: beta_e = sqrt(1 + (beta_final^2 - 1) e / (E - 1)), from 1
in the first epoch to method.hashnet.beta_final (7.14 = sqrt(51)) in the last; pairs within the
class-balanced batch, not across two loaders; Adam with the protocol's schedule, not SGD.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field

from dsah.losses import similarity
from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


def hashnet_loss(h: torch.Tensor, s: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
    theta = alpha * h @ h.T
    terms = F.softplus(theta) - s * theta
    off = ~torch.eye(len(h), dtype=torch.bool, device=h.device) if len(h) > 1 else torch.ones_like(s, dtype=torch.bool)
    pos, neg = (s > 0) & off, (s == 0) & off
    total = off.sum()
    w = torch.where(s > 0, total / pos.sum().clamp_min(1), total / neg.sum().clamp_min(1)) * off
    loss = (w * terms).sum() / w.sum().clamp_min(1e-12)
    return {"loss": loss}


def beta_at(epoch: int, epochs: int, final: float) -> float:
    """The continuation's beta in epoch `epoch` (0-based) of `epochs`."""
    return math.sqrt(1 + (final ** 2 - 1) * epoch / max(epochs - 1, 1))


class HashNet(HashOnly):
    name = "hashnet"
    description = "HashNet: weighted pairwise likelihood on tanh(beta z), beta by continuation"
    head = "linear"

    class Config(Section):
        scale: Float = Field(10.0, gt=0)  # theta = (scale / K) h_i . h_j (reference 10 / K)
        beta_final: Float = Field(7.14, ge=1)  # tanh(beta z), beta from 1 to this (reference sqrt(51))

    def __init__(self, params, bits, device, num_classes=None):
        super().__init__(params, bits, device, num_classes)
        self.beta_epoch = 0  # epochs finished: the continuation's step

    @property
    def beta(self) -> float:
        return beta_at(self.beta_epoch, self.params.train.epochs, self.config.beta_final)

    def loss(self, z, y):
        h = torch.tanh(self.beta * z)
        return hashnet_loss(h, similarity(y, y), self.config.scale / self.bits)

    def end_epoch(self):
        row = {**super().end_epoch(), "beta": self.beta}
        self.beta_epoch += 1
        return row

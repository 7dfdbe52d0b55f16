"""`greedyhash`: GreedyHash (Su, Zhang, Han, Tian, NeurIPS 2018).

b = sign(z) in the forward pass, the gradient of b passed unchanged to z (straight-through); a bias-free
linear classifier on b:  L = CE(W b, y) + alpha mean_ik | |z_ik| - 1 |^3, alpha = method.greedyhash.alpha
(0.1, the reference's). Codes: sign(z).
Deviations: multi-label data (which the reference does not handle) uses binary cross-entropy per class;
Adam with the protocol's schedule (reference: SGD 1e-3, momentum 0.9); the classifier learns at train.lr.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from dsah.methods.hash_only import HashOnly
from dsah.schema import Float, Section


class SignST(torch.autograd.Function):
    """sign(z) forward, identity backward."""

    @staticmethod
    def forward(ctx, z):
        return torch.sign(z)

    @staticmethod
    def backward(ctx, grad):
        return grad


def greedyhash_loss(z: torch.Tensor, logits_of, y: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
    logits = logits_of(SignST.apply(z))
    if y.dim() == 1:
        ce = F.cross_entropy(logits, y)
    else:
        ce = F.binary_cross_entropy_with_logits(logits, y.float())
    penalty = (z.abs() - 1).abs().pow(3).mean()
    return {"loss": ce + alpha * penalty, "classification": ce, "penalty": penalty}


class GreedyHash(HashOnly):
    name = "greedyhash"
    description = "GreedyHash: classifier on sign(z) with a straight-through gradient, cubic penalty"
    head = "linear"
    backbone_path = "net.backbone"

    class Config(Section):
        alpha: Float = Field(0.1, ge=0)  # weight of mean | |z| - 1 |^3

    def __init__(self, params, bits, device, num_classes=None):
        self.num_classes = num_classes
        self.classifier = nn.Linear(bits, self.classes(), bias=False).to(device)  # before the optimiser
        super().__init__(params, bits, device, num_classes)

    def trainable(self):
        return nn.ModuleDict({"net": self.net, "classifier": self.classifier})

    def modules(self):
        return {"hashing": self.net, "classifier": self.classifier}

    def loss(self, z, y):
        return greedyhash_loss(z, self.classifier, y, self.config.alpha)

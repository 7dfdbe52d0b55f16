"""The hashing network: backbone -> linear to K -> tanh, giving relaxed codes in (-1, 1)^K."""
from __future__ import annotations

import torch
from torch import nn

from dsah.models.backbones import build_backbone


class HashingNetwork(nn.Module):
    def __init__(self, bits: int, backbone: str = "small_cnn", width: int = 32, norm: str = "batch",
                 pretrained: bool = False, depth: int = 4, pool: str = "avg"):
        super().__init__()
        if bits <= 0:
            raise ValueError(f"bits={bits}: must be a positive number of bits")
        self.backbone = build_backbone(backbone, width, norm, pretrained, depth, pool)
        self.head = nn.Linear(self.backbone.out_dim, bits)
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.backbone(x)))

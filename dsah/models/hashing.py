"""The hashing network: backbone -> linear to K -> tanh, giving relaxed codes in (-1, 1)^K."""
from __future__ import annotations

import torch
from torch import nn

from dsah.models.backbones import blocks, build_backbone
from dsah.models.finetune import KeepEval, batch_norms, freeze


class HashingNetwork(KeepEval, nn.Module):
    """`freeze_blocks`: the backbone's first blocks get no gradient and stay in eval mode.
    `pretrained_norm` (pretrained backbones only): frozen | calibrated | train (dsah.models.finetune)."""

    def __init__(self, bits: int, backbone: str = "small_cnn", width: int = 32, norm: str = "batch",
                 pretrained: bool = False, depth: int = 4, pool: str = "avg", freeze_blocks: int = 0,
                 pretrained_norm: str = "frozen"):
        super().__init__()
        if bits <= 0:
            raise ValueError(f"bits={bits}: must be a positive number of bits")
        self.backbone = build_backbone(backbone, width, norm, pretrained, depth, pool)
        self.head = nn.Linear(self.backbone.out_dim, bits)
        self.bits = bits
        stages = blocks(self.backbone)
        if freeze_blocks > len(stages):
            raise ValueError(f"model.freeze_blocks={freeze_blocks}: {backbone} has {len(stages)} blocks")
        self.keep_eval = list(stages[:freeze_blocks])
        freeze(self.keep_eval)
        if pretrained and pretrained_norm == "frozen":
            self.keep_eval += batch_norms(self.backbone)
        self.input_stats = getattr(self.backbone, "input_stats", None)  # None: the dataset's mean and std

    @classmethod
    def from_params(cls, bits: int, m) -> "HashingNetwork":
        """From the `model:` section of params.yaml."""
        return cls(bits, m.backbone, m.width, m.norm, m.pretrained, m.depth, m.pool, m.freeze_blocks,
                   m.pretrained_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.backbone(x)))

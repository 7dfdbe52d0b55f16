"""The hashing network: backbone -> linear to K -> an output map (tanh by default), one code per image.

`head`: tanh (relaxed codes in (-1, 1)^K: DPSH, DSaH, CSQ, DTQ's features), linear (the raw linear
output: DSH, GreedyHash, HashNet's tanh(beta z) applied by the method) or bn (a bias-free linear layer
followed by BatchNorm1d: OrthoHash). The binary code is always the sign of the output.
"""
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
                 pretrained_norm: str = "frozen", head: str = "tanh"):
        super().__init__()
        if bits <= 0:
            raise ValueError(f"bits={bits}: must be a positive number of bits")
        if head not in HEADS:
            raise ValueError(f"head={head!r}: allowed: {', '.join(HEADS)}")
        self.backbone = build_backbone(backbone, width, norm, pretrained, depth, pool)
        self.head = nn.Linear(self.backbone.out_dim, bits, bias=head != "bn")
        self.head_norm = nn.BatchNorm1d(bits) if head == "bn" else None
        self.output = head
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
    def from_params(cls, bits: int, m, head: str = "tanh") -> "HashingNetwork":
        """From the `model:` section of params.yaml."""
        return cls(bits, m.backbone, m.width, m.norm, m.pretrained, m.depth, m.pool, m.freeze_blocks,
                   m.pretrained_norm, head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.backbone(x)).float()  # under bf16 autocast: the codes and every loss in float32
        if self.output == "tanh":
            return torch.tanh(z)
        return self.head_norm(z) if self.head_norm is not None else z


HEADS = ("tanh", "linear", "bn")

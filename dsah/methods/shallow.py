"""Shallow hashing on frozen features (the base of `lsh` and `itq`): codes sign((f - mean) W) of the
hashing network's backbone features f — a pretrained backbone's own where `model.pretrained` is set,
otherwise the penultimate (pooled) features of the `hash_only` network trained at the same setting
(same parameters, same seed: `fit` trains it first, exactly as the `hash_only` run does). Features are
taken on the centre view of the training images (no augmentation) and centred on their mean.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dsah.methods.base import Method
from dsah.models import HashingNetwork


class Projection(nn.Module):
    """f -> (f - mean) W: buffers, fitted once, saved with the model."""

    def __init__(self, dim: int, bits: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("weight", torch.zeros(dim, bits))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.mean) @ self.weight


class Shallow(Method):
    def __init__(self, params, bits, device, num_classes=None):
        super().__init__(params, bits, device, num_classes)
        self.net = HashingNetwork.from_params(bits, params.model).to(device)
        self.net.requires_grad_(False)
        self.projection = Projection(self.net.backbone.out_dim, bits).to(device)

    def modules(self):
        return {"hashing": self.net, "projection": self.projection}

    @property
    def feature_source(self) -> str:
        m = self.params.model
        return (f"pretrained {m.backbone} (frozen)" if m.pretrained
                else f"hash_only-{self.bits} network's {m.backbone} penultimate features")

    def projection_for(self, centred: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """(d, K) projection of the centred training features, and values to log."""
        raise NotImplementedError

    @torch.no_grad()
    def features(self, images: np.ndarray, norm, batch_size: int = 256) -> np.ndarray:
        self.net.eval()
        out = []
        for s in range(0, len(images), batch_size):
            x = norm(torch.from_numpy(np.array(images[s : s + batch_size]))).to(self.device)
            out.append(self.net.backbone(x.contiguous(memory_format=torch.channels_last)).double().cpu().numpy())
        return np.concatenate(out)

    def fit(self, data, norm, log) -> dict[str, float]:
        """Fit the projection on the training split; returns what the run's history records."""
        if not self.params.model.pretrained:
            from dsah.train import train

            log(f"[{self.name}-{self.bits}] features: training hash_only-{self.bits} at the same setting first")
            self.net.load_state_dict(train(self.params, "hash_only", self.bits, data, log).method.net.state_dict())
        f = self.features(data.train.images, norm)
        if self.bits > f.shape[1]:
            raise ValueError(f"{self.name}: {self.bits} bits need features of at least {self.bits} dimensions; "
                             f"{self.params.model.backbone} gives {f.shape[1]}")
        mean = f.mean(axis=0)
        weight, row = self.projection_for(f - mean, np.random.default_rng(self.params.train.seed))
        self.projection.mean.copy_(torch.from_numpy(mean).float())
        self.projection.weight.copy_(torch.from_numpy(weight).float())
        log(f"[{self.name}-{self.bits}] {self.feature_source}: {f.shape[1]}-d features of {len(f)} images")
        return {"feature_dim": float(f.shape[1]), **row}

    def train_step(self, x, y, box):
        raise RuntimeError(f"{self.name} is fitted once on features (Method.fit), not trained by batches")

    @torch.no_grad()
    def encode(self, x, box):
        self.net.eval()
        return torch.tanh(self.projection(self.net.backbone(x)))

"""Shallow hashing on frozen features (the base of `lsh` and `itq`): codes sign((f - mean) W) of the
hashing network's backbone features f — a pretrained backbone's own where `model.pretrained` is set,
otherwise the penultimate (pooled) features of the trained `features_from` run (`hash_only`) at the same
code length and seed: the pipeline's train_fitted stage reads its checkpoint (a DVC dependency), the sweep
trains it first. Features are taken on the centre view of the training images (no augmentation) and
centred on their mean.
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
    fitted = True  # fitted once on features (`fit`), no epochs: the train_fitted stage
    features_from = "hash_only"  # without model.pretrained: the trained run whose backbone gives the features

    @classmethod
    def check(cls, params) -> None:
        if cls.features_from not in params.methods:
            raise ValueError(f"{cls.name} (in fitted_methods) reads the trained {cls.features_from} runs "
                             f"(the train_fitted stage depends on them): add {cls.features_from} to methods")
    def __init__(self, params, bits, device, num_classes=None):
        super().__init__(params, bits, device, num_classes)
        self.net = HashingNetwork.from_params(bits, params.model).to(device)
        self.net.requires_grad_(False)
        self.projection = Projection(self.net.backbone.out_dim, bits).to(device)

    def modules(self):
        return {"hashing": self.net, "projection": self.projection}

    @classmethod
    def feature_source_of(cls, params, bits: int) -> str:
        """Where the features come from under `params`, in words."""
        m = params.model
        return (f"pretrained {m.backbone} (frozen)" if m.pretrained
                else f"{cls.features_from}-{bits} network's {m.backbone} penultimate features")

    @property
    def feature_source(self) -> str:
        return self.feature_source_of(self.params, self.bits)

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

    def fit(self, data, norm, log, features: Method | None = None) -> dict[str, float]:
        """Fit the projection on the training split; returns what the run's history records. `features`:
        the trained `features_from` method (needed without model.pretrained)."""
        if not self.params.model.pretrained:
            if features is None or features.name != self.features_from:
                raise ValueError(f"{self.name}: without model.pretrained the features come from a trained "
                                 f"{self.features_from}-{self.bits} run; none was given")
            self.net.load_state_dict(features.net.state_dict())
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

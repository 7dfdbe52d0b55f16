"""Turning prepared uint8 splits into training batches: normalisation, box masks, shifts, sampling."""
from __future__ import annotations

import numpy as np
import torch

from dsah.data.records import first_label


class Normalizer:
    """Per-channel (x/255 - mean) / std with the training split's statistics, so 0 = the dataset mean."""

    def __init__(self, mean, std):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1).clamp_min(1e-6)

    def __call__(self, images_u8: torch.Tensor) -> torch.Tensor:
        x = images_u8.float() / 255.0
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, size, size) float masks, 1 inside each x, y, w, h box (pixel centres), 0 outside.

    A box of NaNs (no annotation) gives an all-ones mask.
    """
    centres = torch.arange(size, dtype=torch.float32, device=boxes.device) + 0.5
    b = torch.nan_to_num(boxes.float(), nan=0.0)
    missing = torch.isnan(boxes).any(dim=1)
    x0, y0 = b[:, 0, None], b[:, 1, None]
    x1, y1 = x0 + b[:, 2, None], y0 + b[:, 3, None]
    inx = (centres[None] >= x0) & (centres[None] < x1)
    iny = (centres[None] >= y0) & (centres[None] < y1)
    m = (iny[:, :, None] & inx[:, None, :]).float()
    m[missing] = 1.0
    return m[:, None]


def random_shift(x: torch.Tensor, boxes: torch.Tensor, max_shift: int, gen: torch.Generator,
                 rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Translate each image by up to `max_shift` pixels, filling with 0 (the mean); boxes follow.
    Distributed (`world` > 1): the shifts are drawn for the global batch and this rank takes its rows,
    so W processes shift every image as one process would."""
    if max_shift <= 0:
        return x, boxes
    n, _, h, w = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n * world, 2), generator=gen)[rank * n : (rank + 1) * n]
    padded = torch.nn.functional.pad(x, (max_shift,) * 4)
    out = torch.empty_like(x)
    for i, (dx, dy) in enumerate(shifts.tolist()):
        out[i] = padded[i, :, max_shift - dy : max_shift - dy + h, max_shift - dx : max_shift - dx + w]
    boxes = boxes.clone()
    boxes[:, 0] += shifts[:, 0].to(boxes)
    boxes[:, 1] += shifts[:, 1].to(boxes)
    return out, boxes


class BalancedBatches:
    """Class-balanced batches: P classes x K images per class, drawn from a seeded generator.

    One epoch holds len(labels) // (P * K) batches. Fine-grained sets have many classes, so random
    batches would hold almost no similar pairs for the pairwise loss. Multi-hot rows are grouped by
    their first label (images without any label are never drawn).
    """

    def __init__(self, labels: np.ndarray, classes_per_batch: int, images_per_class: int, seed: int):
        labels = first_label(labels)
        self.by_class = [np.flatnonzero(labels == c) for c in np.unique(labels[labels >= 0])]
        self.p = min(classes_per_batch, len(self.by_class))
        self.k = images_per_class
        self.n_batches = max(1, len(labels) // (self.p * self.k))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        for _ in range(self.n_batches):
            classes = self.rng.choice(len(self.by_class), size=self.p, replace=False)
            idx = [
                self.rng.choice(self.by_class[c], size=self.k, replace=len(self.by_class[c]) < self.k)
                for c in classes
            ]
            yield np.concatenate(idx)

"""Encoding a split into relaxed and binary codes with a trained method."""
from __future__ import annotations

import numpy as np
import torch

from dsah.data.batches import Normalizer, box_masks
from dsah.data.prepared import Split
from dsah.metrics import sign_codes


@torch.no_grad()
def encode(method, split: Split, meta: dict, batch_size: int = 256) -> np.ndarray:
    """Relaxed codes (N, K) of every image of `split`, in split order."""
    method.train(False)
    norm = Normalizer(meta["mean"], meta["std"])
    size = split.images.shape[-1]
    out = []
    for s in range(0, len(split), batch_size):
        x = norm(torch.from_numpy(split.images[s : s + batch_size]))
        m = box_masks(torch.from_numpy(split.boxes[s : s + batch_size]).float(), size)
        x = x.to(method.device).contiguous(memory_format=torch.channels_last)  # as in training
        out.append(method.encode(x, m.to(method.device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, method.bits), dtype=np.float32)


def binary_codes(method, split: Split, meta: dict, batch_size: int = 256) -> np.ndarray:
    return sign_codes(encode(method, split, meta, batch_size))

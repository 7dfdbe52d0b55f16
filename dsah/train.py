"""The training loop shared by every method: seeded, class-balanced, one log line per epoch."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from dsah import methods
from dsah.data.batches import BalancedBatches, Normalizer, box_masks, random_shift
from dsah.data.prepared import Prepared

MAX_SHIFT = 4  # pixels of random translation when train.augment is on


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class TrainResult:
    method: methods.Method
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _print(line: str) -> None:
    print(line, flush=True)  # one line per epoch: readable live in papermill/DVC logs


def train(params, method_name: str, bits: int, data: Prepared, log: Callable[[str], None] = _print) -> TrainResult:
    """Train `method_name` at `bits` on `data.train`; returns the trained method and per-epoch history."""
    t = params.train
    gen = seed_everything(t.seed)
    device = resolve_device(t.device)
    method = methods.get(method_name)(params, bits, device)
    norm = Normalizer(data.meta["mean"], data.meta["std"])
    images = torch.from_numpy(data.train.images)
    labels = torch.from_numpy(data.train.labels)
    boxes = torch.from_numpy(data.train.boxes).float()
    size = images.shape[-1]
    sampler = BalancedBatches(data.train.labels, t.classes_per_batch, t.images_per_class, t.seed)
    result = TrainResult(method)
    start = time.perf_counter()
    tag = f"[{method_name}-{bits}]"
    log(f"{tag} training on {device}: {len(images)} images, {data.num_classes} classes, "
        f"{len(sampler)} batches of {sampler.p}x{sampler.k} per epoch, {t.epochs} epochs")
    for epoch in range(1, t.epochs + 1):
        method.train(True)
        e0 = time.perf_counter()
        sums: dict[str, float] = {}
        for idx in sampler:
            idx_t = torch.from_numpy(idx)
            x, b = norm(images[idx_t]), boxes[idx_t]
            if t.augment:
                x, b = random_shift(x, b, MAX_SHIFT, gen)
            m = box_masks(b, size)
            out = method.train_step(x.to(device), labels[idx_t].to(device), m.to(device))
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v
        row = {"epoch": epoch, **{k: v / len(sampler) for k, v in sums.items()}}
        row.update(method.end_epoch())
        row["seconds"] = time.perf_counter() - e0
        result.history.append(row)
        shown = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
        log(f"{tag} epoch {epoch}/{t.epochs} {shown} ({row['seconds']:.1f}s)")
    result.seconds = time.perf_counter() - start
    method.train(False)
    return result

"""The training loop shared by every method: seeded, class-balanced, one log line per epoch."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from dsah import methods
from dsah.models.finetune import calibrate
from dsah.data.batches import Normalizer, box_masks, random_shift
from dsah.data.loader import train_loader
from dsah.data.prepared import Prepared
from dsah.data.records import first_label

MAX_SHIFT = 4  # pixels of random translation with train.augment: shift
CALIBRATION_IMAGES = 64  # model.pretrained_norm: calibrated — training images whose statistics the BatchNorms take


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
    # Saliency maps of a few fixed training images at a few epochs (methods with an attention network):
    # probe = their indices in the train split, maps[e] = (len(probe), S, S) uint8 after epoch e.
    probe: list[int] = field(default_factory=list)
    maps: dict[int, np.ndarray] = field(default_factory=dict)


PROBE_CLASSES = 6  # training images whose maps are kept during training, one per class


def snapshot_epochs(epochs: int) -> set[int]:
    """After which epochs the probe maps are kept: the first, the quarters and the last."""
    return {1, epochs} | {max(1, round(epochs * q)) for q in (0.25, 0.5, 0.75)}


def probe_indices(labels: np.ndarray, n: int = PROBE_CLASSES) -> list[int]:
    """The first training image of each of the first `n` classes (in label order)."""
    labels = first_label(labels)
    return [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels[labels >= 0])[:n]]


def _print(line: str) -> None:
    print(line, flush=True)  # one line per epoch: readable live in papermill/DVC logs


def train(params, method_name: str, bits: int, data: Prepared, log: Callable[[str], None] = _print) -> TrainResult:
    """Train `method_name` at `bits` on `data.train`; returns the trained method and per-epoch history."""
    t = params.train
    gen = seed_everything(t.seed)
    device = resolve_device(t.device)
    method = methods.get(method_name)(params, bits, device, num_classes=data.num_classes)
    # NHWC convolutions are about 1.5x faster on the CPU for these small networks (measured by
    # `python -m dsah.bench_train`); the numbers computed are the same operations.
    for module in method.modules().values():
        module.to(memory_format=torch.channels_last)
    norm = Normalizer(*method.input_stats(data.meta))
    size = data.meta["image_size"]
    loader = train_loader(data.train, params, device)
    result = TrainResult(method)
    has_maps = hasattr(method, "saliency")
    if has_maps:
        result.probe = probe_indices(data.train.labels)
        probe_x = norm(torch.from_numpy(data.train.images[result.probe])).to(device)
        keep = snapshot_epochs(t.epochs)
    if params.model.pretrained_norm == "calibrated" and method.pretrained_modules():
        calib = norm(torch.from_numpy(np.asarray(data.train.images[:CALIBRATION_IMAGES]))).to(device)
        for module in method.pretrained_modules():
            calibrate(module, calib.contiguous(memory_format=torch.channels_last))
    start = time.perf_counter()
    tag = f"[{method_name}-{bits}]"
    if hasattr(method, "fit"):  # shallow methods: fitted once on features, no epochs
        row = {"epoch": 1, **method.fit(data, norm, log)}
        result.seconds = row["seconds"] = time.perf_counter() - start
        result.history.append(row)
        method.train(False)
        return result
    sampler = loader.batch_sampler.batches
    log(f"{tag} training on {device}: {len(data.train)} images, {data.num_classes} classes, "
        f"{len(sampler)} batches of {sampler.p}x{sampler.k} per epoch, {t.epochs} epochs, augment {t.augment}"
        + (f", {t.workers} loader workers" if t.workers else ""))
    for epoch in range(1, t.epochs + 1):
        method.train(True)
        e0 = time.perf_counter()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}  # a term logged on some batches only (step 2 every n-th) averages over those
        for batch in loader:
            x = norm(batch.images.to(device, non_blocking=True))
            b = batch.boxes.to(device)
            if t.augment == "shift":
                x, b = random_shift(x, b, MAX_SHIFT, gen)
            m = box_masks(b, size)
            x = x.contiguous(memory_format=torch.channels_last)
            out = method.train_step(x, batch.labels.to(device), m.to(device))
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
        row = {"epoch": epoch, **{k: v / counts[k] for k, v in sums.items()}}
        row.update(method.end_epoch())
        row["seconds"] = time.perf_counter() - e0
        result.history.append(row)
        if has_maps and epoch in keep:
            maps = method.saliency(probe_x)[:, 0].clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
            result.maps[epoch] = maps
        shown = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
        log(f"{tag} epoch {epoch}/{t.epochs} {shown} ({row['seconds']:.1f}s)")
    result.seconds = time.perf_counter() - start
    method.train(False)
    return result

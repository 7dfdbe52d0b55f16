"""The training loop shared by every method: seeded, class-balanced, one log line per epoch.

`train` reads top to bottom: `setup` (seeds, device, method, loader), `calibrate_pretrained`, then either
`fit_once` (methods fitted on features) or resume + `train_one_epoch` per epoch, with map snapshots and
the resume file written after each epoch."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dsah import distributed, methods
from dsah.io import atomic_path
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


def use_amp(setting: str, device: torch.device) -> bool:
    """train.amp: auto = bf16 autocast on CUDA only; on = also on the CPU; off = never."""
    return setting == "on" or (setting == "auto" and device.type == "cuda")


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


class NonFiniteLoss(FloatingPointError):
    """A loss term became NaN or infinite; the message names the term, the epoch and the step."""


def _rng_state(gen: torch.Generator, loader) -> dict:
    sampler = loader.batch_sampler
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "shift": gen.get_state(), "batches": sampler.batches.rng.bit_generator.state,
            "image_seeds": sampler.rng.bit_generator.state}


def _set_rng_state(state: dict, gen: torch.Generator, loader) -> None:
    sampler = loader.batch_sampler
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    gen.set_state(state["shift"])
    sampler.batches.rng.bit_generator.state = state["batches"]
    sampler.rng.bit_generator.state = state["image_seeds"]


def resume_key(params, method_name: str, bits: int, data: Prepared) -> dict:
    """What a resume checkpoint must match to be used: the parameters, the run, the data, the code."""
    from dsah.provenance import source_digest

    return {"params": params.model_dump(mode="json"), "method": method_name, "bits": bits,
            "data": {k: data.meta.get(k) for k in ("dataset", "source", "image_size", "store_size", "mean", "std")},
            "train_size": len(data.train), "source": source_digest()}


def _load_resume(path, key: dict, log) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)  # our own file: RNG states are tuples
    except Exception as err:  # noqa: BLE001 - a file cut short by a kill before its rename cannot exist; anything else: start over
        log(f"ignoring unreadable resume checkpoint {path} ({err})")
        return None
    if state.get("key") != key:
        log(f"ignoring resume checkpoint {path}: made with other parameters, data or code")
        return None
    return state


@dataclass
class Run:
    """What one training run works with: built in the order `setup` draws random numbers."""

    params: object
    method: methods.Method
    gen: torch.Generator  # train.augment: shift's generator
    device: torch.device
    rank: int
    world_size: int
    norm: Normalizer
    loader: object  # torch.utils.data.DataLoader of class-balanced batches
    tag: str
    amp: bool


def setup(params, method_name: str, bits: int, data: Prepared) -> Run:
    """Seed everything, join the distributed group (under torchrun), build the method and its loader."""
    t = params.train
    gen = seed_everything(t.seed)
    device = distributed.init(resolve_device(t.device))  # under torchrun: join the group, this rank's GPU
    rank, world_size = distributed.world()
    method = methods.get(method_name)(params, bits, device, num_classes=data.num_classes)
    # NHWC convolutions are about 1.5x faster on the CPU for these small networks (measured by
    # `python -m dsah.cli.bench_train`); the numbers computed are the same operations.
    for module in method.modules().values():
        module.to(memory_format=torch.channels_last)
    norm = Normalizer(*method.input_stats(data.meta))
    loader = train_loader(data.train, params, device, hires=method.needs_hires)
    return Run(params, method, gen, device, rank, world_size, norm, loader, f"[{method_name}-{bits}]",
               use_amp(t.amp, device))


def calibrate_pretrained(run: Run, data: Prepared) -> None:
    """model.pretrained_norm: calibrated — the pretrained modules' BatchNorms take the statistics of the
    first training images."""
    if run.params.model.pretrained_norm != "calibrated" or not run.method.pretrained_modules():
        return
    calib = run.norm(torch.from_numpy(np.asarray(data.train.images[:CALIBRATION_IMAGES]))).to(run.device)
    for module in run.method.pretrained_modules():
        calibrate(module, calib.contiguous(memory_format=torch.channels_last))


def train_one_epoch(run: Run, epoch: int, resume=None) -> dict:
    """One pass over the class-balanced batches; the epoch's mean of every logged term (a term logged on
    some batches only, such as step 2 every n-th batch, averages over those). A NaN or infinite term stops
    the run (NonFiniteLoss)."""
    t, method, device = run.params.train, run.method, run.device
    size = run.params.data.image_size
    method.train(True)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for step, batch in enumerate(run.loader, 1):
        x = run.norm(batch.images.to(device, non_blocking=True))
        b = batch.boxes.to(device)
        if t.augment == "shift":
            x, b = random_shift(x, b, MAX_SHIFT, run.gen, run.rank, run.world_size)
        m = box_masks(b, size)
        x = x.contiguous(memory_format=torch.channels_last)
        extra = {}
        if method.needs_hires:  # the high-resolution copy, normalised alike (train.augment none)
            extra["hires"] = run.norm(batch.hires.to(device)).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.amp):
            out = method.train_step(x, batch.labels.to(device), m.to(device), **extra)
        bad = [k for k, v in out.items() if not math.isfinite(v)]
        if bad:
            kept = f"; {resume} keeps epoch {epoch - 1}" if resume is not None and epoch > 1 else ""
            raise NonFiniteLoss(f"{run.tag} epoch {epoch}, step {step}: loss term {bad[0]!r} = {out[bad[0]]} "
                                f"(lower train.lr or check the data){kept}")
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
    return {"epoch": epoch, **{k: v / counts[k] for k, v in sums.items()}}


def fit_once(run: Run, data: Prepared, log, features=None) -> TrainResult:
    """A method fitted once on features (no epochs): one history row."""
    start = time.perf_counter()
    row = {"epoch": 1, **run.method.fit(data, run.norm, log, features)}
    result = TrainResult(run.method, seconds=time.perf_counter() - start)
    row["seconds"] = result.seconds
    result.history.append(row)
    run.method.train(False)
    return result


def describe(run: Run, data: Prepared) -> str:
    t, sampler = run.params.train, run.loader.batch_sampler.batches
    return (f"{run.tag} training on {run.device}: {len(data.train)} images, {data.num_classes} classes, "
            f"{len(sampler)} batches of {sampler.p}x{sampler.k} per epoch, {t.epochs} epochs, augment {t.augment}"
            + (f", {t.workers} loader workers" if t.workers else "")
            + (f", {run.world_size} processes (DDP, {sampler.p // run.world_size} classes each)"
               if run.world_size > 1 else ""))


def train(params, method_name: str, bits: int, data: Prepared, log: Callable[[str], None] = _print,
          resume: str | Path | None = None, features=None) -> TrainResult:
    """Train `method_name` at `bits` on `data.train`; returns the trained method and per-epoch history.

    With `resume` (a file path), the state after every epoch — networks, optimisers, schedulers,
    sampler and RNG states, history, map snapshots — is written there atomically, and a run that finds
    a matching file continues after its last epoch, ending with the same weights as an uninterrupted
    run on the same CPU. A NaN or infinite loss term stops the run (NonFiniteLoss), the file keeping
    the last good epoch. `features`: for a method fitted on a trained network's features (its
    `features_from`), that trained method."""
    run = setup(params, method_name, bits, data)
    if run.rank:
        log = lambda line: None  # noqa: E731 - one log: rank 0's
    method, t = run.method, params.train
    result = TrainResult(method)
    if method.uses_attention:  # the maps of a few fixed training images, kept at a few epochs
        result.probe = probe_indices(data.train.labels)
        probe_x = run.norm(torch.from_numpy(data.train.images[result.probe])).to(run.device)
        keep = snapshot_epochs(t.epochs)
    calibrate_pretrained(run, data)
    if method.fitted:
        return fit_once(run, data, log, features)
    start = time.perf_counter()
    log(describe(run, data))
    if run.amp:
        log(f"{run.tag} mixed precision: bf16 autocast on {run.device.type}, losses in float32")
    key = resume_key(params, method_name, bits, data) if resume is not None else None
    first, earlier = 1, 0.0
    state = _load_resume(resume, key, log)
    if state is not None:
        method.load_training_state(state["method"])
        _set_rng_state(state["rng"], run.gen, run.loader)
        result.history, result.maps = state["history"], state["maps"]
        first, earlier = state["epoch"] + 1, state["seconds"]
        log(f"{run.tag} resuming after epoch {state['epoch']} from {resume}")
    for epoch in range(first, t.epochs + 1):
        e0 = time.perf_counter()
        row = train_one_epoch(run, epoch, resume)
        row.update(method.end_epoch())
        row["seconds"] = time.perf_counter() - e0
        result.history.append(row)
        if method.uses_attention and epoch in keep:
            maps = method.saliency(probe_x)[:, 0].clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
            result.maps[epoch] = maps
        if resume is not None and run.rank == 0:  # before the epoch's line: whoever reads "epoch e" may rely on it
            with atomic_path(resume) as tmp:
                torch.save({"key": key, "epoch": epoch, "seconds": earlier + time.perf_counter() - start,
                            "method": method.training_state(), "rng": _rng_state(run.gen, run.loader),
                            "history": result.history, "maps": result.maps}, tmp)
        shown = " ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
        log(f"{run.tag} epoch {epoch}/{t.epochs} {shown} ({row['seconds']:.1f}s)")
    result.seconds = earlier + time.perf_counter() - start
    method.train(False)
    return result

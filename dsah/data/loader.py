"""Training batches through `torch.utils.data.DataLoader`, over the memory-mapped prepared store.

One item of the batch sampler is a whole class-balanced batch (`BalancedBatches`), so each worker
reads one batch with one fancy index into the memory map (`__getitems__`) and augments it there:

- `crop_flip` (real images): per image, `torchvision.transforms.v2` RandomResizedCrop of the stored
  image (`data.store_size`) to `data.image_size` and a horizontal flip, on uint8 tensors, with the
  object box (`tv_tensors.BoundingBoxes`) and the part locations (`tv_tensors.KeyPoints`) following;
- `shift` (the embedded dataset) and `none`: nothing in the worker; the shifts are a batch operation
  applied after normalisation in the training process (`dsah.data.batches.random_shift`), so the
  default pipeline draws exactly the random numbers it always drew.

Seeds: every image of every batch gets its own seed, drawn in the main process from `train.seed`, and
the worker seeds torch's generator with it before transforming that image. The crops therefore do not
depend on which worker handles a batch: 0, 1 or 8 workers give the same batches and the same codes.
Normalisation happens in the training process, on the training device (cheapest on a GPU).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dsah.data.batches import BalancedBatches
from dsah.distributed import shard, world


@dataclass
class Batch:
    images: torch.Tensor  # (N, 3, S, S) uint8
    labels: torch.Tensor  # (N,) or (N, C)
    boxes: torch.Tensor  # (N, 4) float x, y, w, h in pixels of `images` (NaN: no box)
    parts: torch.Tensor  # (N, P, 3) float x, y, visible
    hires: torch.Tensor | None = None  # (N, 3, H, H) uint8: the same view at data.hires_size, when asked for

    def pin_memory(self) -> "Batch":
        return Batch(*(None if t is None else t.pin_memory()
                       for t in (self.images, self.labels, self.boxes, self.parts, self.hires)))


def _identity(batch):
    return batch


class SeededBatches:
    """`BalancedBatches` whose items carry one seed per image: lists of (row, seed)."""

    def __init__(self, batches: BalancedBatches, seed: int, rank: int = 0, world: int = 1):
        self.batches = batches
        self.rng = np.random.default_rng([seed, 1])  # a stream of its own: the batch draws stay as they were
        self.rank, self.world = rank, world  # distributed: every rank draws the global batch, keeps its share

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for idx in self.batches:
            seeds = self.rng.integers(0, 2**62, size=len(idx))
            yield shard(list(zip(idx.tolist(), seeds.tolist())), self.rank, self.world)


class CropFlip:
    """RandomResizedCrop (aspect ratio 3/4..4/3, area share `scale`) to `size`, then a horizontal flip."""

    def __init__(self, size: int, scale: tuple[float, float]):
        from torchvision.transforms import v2

        self.transform = v2.Compose([v2.RandomResizedCrop(size, scale=tuple(scale), antialias=True),
                                     v2.RandomHorizontalFlip()])

    def __call__(self, image: torch.Tensor, box: torch.Tensor, parts: torch.Tensor, seed: int):
        from torchvision import tv_tensors

        canvas = tuple(image.shape[-2:])
        torch.manual_seed(seed)
        has_box = not torch.isnan(box).any()
        boxes = tv_tensors.BoundingBoxes(box[None] if has_box else torch.zeros(1, 4), format="XYWH",
                                         canvas_size=canvas)
        points = tv_tensors.KeyPoints(parts[:, :2] if len(parts) else torch.zeros(0, 2), canvas_size=canvas)
        img, boxes, points = self.transform(tv_tensors.Image(image), boxes, points)
        size = img.shape[-1]
        b = boxes[0].float()
        if has_box:  # clip the box to the crop (XYWH)
            x0, y0 = b[0].clamp(0, size), b[1].clamp(0, size)
            x1, y1 = (b[0] + b[2]).clamp(0, size), (b[1] + b[3]).clamp(0, size)
            b = torch.stack([x0, y0, x1 - x0, y1 - y0])
        else:
            b = torch.full((4,), float("nan"))
        p = torch.cat([points.as_subclass(torch.Tensor).float(), parts[:, 2:]], 1) if len(parts) else parts
        if len(p):
            inside = (p[:, 0] >= 0) & (p[:, 0] < size) & (p[:, 1] >= 0) & (p[:, 1] < size)
            p[:, 2] = p[:, 2] * inside
        return img.as_subclass(torch.Tensor), b, p


class TrainSet(Dataset):
    """The training split as a dataset of whole batches: `__getitems__([(row, seed), ...])` -> Batch."""

    def __init__(self, split, augment: str, size: int, crop_scale=(0.35, 1.0), hires: bool = False):
        if hires and (augment != "none" or split.hires is None):
            raise ValueError("high-resolution batches need train.augment=none and data prepared with data.hires_size "
                             f"(augment {augment!r}, high-resolution copy {'present' if split.hires is not None else 'missing'})")
        self.hires = split.hires if hires else None
        if augment == "crop_flip":
            self.images, self.boxes, self.parts = split.source  # crops come from the stored images
            self.crop = CropFlip(size, crop_scale)
        else:
            self.images, self.boxes, self.parts = split.images, split.boxes, split.parts
            self.crop = None
        self.labels = split.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, keys: list[tuple[int, int]]) -> Batch:
        idx = np.array([k for k, _ in keys])
        images = torch.from_numpy(np.asarray(self.images[idx]))  # one read from the memory map
        boxes = torch.from_numpy(np.asarray(self.boxes[idx], dtype=np.float32))
        parts = torch.from_numpy(np.asarray(self.parts[idx], dtype=np.float32))
        if self.crop is not None:
            out = [self.crop(images[i], boxes[i], parts[i], seed) for i, (_, seed) in enumerate(keys)]
            images = torch.stack([o[0] for o in out])
            boxes = torch.stack([o[1] for o in out])
            parts = torch.stack([o[2] for o in out])
        hires = None if self.hires is None else torch.from_numpy(np.asarray(self.hires[idx]))
        return Batch(images, torch.from_numpy(np.asarray(self.labels[idx])), boxes, parts, hires)

    def __getitem__(self, key):
        return self.__getitems__([key])


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the workers' work is per image; the training process owns the cores


def train_loader(split, params, device: torch.device, hires: bool = False) -> DataLoader:
    """Class-balanced, augmented training batches of `split` (`train.workers` worker processes); with
    `hires`, each batch also carries the high-resolution copy (`data.hires_size`)."""
    t = params.train
    rank, size = world()
    balanced = BalancedBatches(split.labels, t.classes_per_batch, t.images_per_class, t.seed)
    if balanced.p % size:
        raise ValueError(f"train.classes_per_batch = {balanced.p} (classes in a batch) must be a multiple of the "
                         f"{size} training processes (train.nproc): each process takes whole classes")
    batches = SeededBatches(balanced, t.seed, rank, size)
    workers = t.workers
    return DataLoader(TrainSet(split, t.augment, params.data.image_size, t.crop_scale, hires), batch_sampler=batches,
                      collate_fn=_identity, num_workers=workers, pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
                      worker_init_fn=_worker_init if workers else None)

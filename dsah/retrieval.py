"""Encoding images into relaxed and binary codes with a trained method, and query by image."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dsah.codestore import CodeStore, search
from dsah.data.batches import Normalizer, box_masks
from dsah.data.prepared import Split
from dsah.metrics import sign_codes


@torch.no_grad()
def encode_images(method, images: np.ndarray, boxes: np.ndarray, meta: dict, batch_size: int = 256,
                  hires: np.ndarray | None = None) -> np.ndarray:
    """Relaxed codes (N, K) of uint8 images (N, 3, S, S) with their object boxes (N, 4), in order; `hires`:
    the same images at data.hires_size, for a method that samples its salient view from them."""
    if method.needs_hires and hires is None:
        raise ValueError(f"{method.name} samples its salient view from the high-resolution copy (data.hires_size): "
                         "give the images at that size too")
    method.train(False)
    norm = Normalizer(*method.input_stats(meta))
    size = images.shape[-1]
    out = []
    for s in range(0, len(images), batch_size):
        x = norm(torch.from_numpy(np.array(images[s : s + batch_size])))  # a copy: the store is read-only
        m = box_masks(torch.from_numpy(boxes[s : s + batch_size]).float(), size)
        x = x.to(method.device).contiguous(memory_format=torch.channels_last)  # as in training
        extra = {}
        if method.needs_hires:
            h = norm(torch.from_numpy(np.array(hires[s : s + batch_size])))
            extra["hires"] = h.to(method.device).contiguous(memory_format=torch.channels_last)
        out.append(method.encode(x, m.to(method.device), **extra).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, method.bits), dtype=np.float32)


def encode(method, split: Split, meta: dict, batch_size: int = 256) -> np.ndarray:
    """Relaxed codes (N, K) of every image of `split`, in split order."""
    return encode_images(method, split.images, split.boxes, meta, batch_size, split.hires)


def binary_codes(method, split: Split, meta: dict, batch_size: int = 256) -> np.ndarray:
    return sign_codes(encode(method, split, meta, batch_size))


@dataclass(frozen=True)
class Hits:
    """The top k of each query: (Q, k) arrays, nearest first, ties in store order (stable engine)."""

    distances: np.ndarray
    indices: np.ndarray  # rows of the code store
    ids: np.ndarray  # image ids of the store
    labels: np.ndarray  # labels of the store, (Q, k) or (Q, k, C)
    codes: np.ndarray  # the queries' {-1, +1} codes

    def relevant(self, query_labels: np.ndarray) -> np.ndarray:
        """(Q, k) bool: same class, or at least one shared label for multi-hot rows."""
        q = np.asarray(query_labels)
        if q.ndim == 1:
            return self.labels == q[:, None]
        return np.logical_and(self.labels, q[:, None, :]).any(axis=2)


def query_by_image(method, images: np.ndarray, store: CodeStore, meta: dict, k: int = 10,
                   boxes: np.ndarray | None = None, engine: str = "stable", batch_size: int = 256,
                   hires: np.ndarray | None = None) -> Hits:
    """Encode query images (uint8, (3, S, S) or (N, 3, S, S), at the prepared size) and search `store`.

    Boxes matter only to methods that use them at query time (the oracle); without them the whole
    image is the box.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    size = meta["image_size"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, size, size):
        raise ValueError(f"query images must be uint8 (N, 3, {size}, {size}) like the prepared data, "
                         f"got {images.dtype} {images.shape}")
    if method.bits != store.bits:
        raise ValueError(f"the method makes {method.bits}-bit codes, the store holds {store.bits}-bit codes")
    if boxes is None:
        boxes = np.tile(np.array([0, 0, size, size], dtype=np.float32), (len(images), 1))
    codes = sign_codes(encode_images(method, images, np.asarray(boxes), meta, batch_size,
                                     None if hires is None else np.asarray(hires).reshape(len(images), *np.shape(hires)[-3:])))
    dist, idx = search(store, codes, k, engine=engine)
    return Hits(dist, idx, store.ids[idx], store.labels[idx], codes)

"""Saliency maps scored against ground truth (numpy only): the pointing game and the mass inside the box.

Pointing game: a map scores a hit when its peak pixel (first in raster order among equal maxima)
has its centre inside a discriminative part's square. Part squares: side `part_size` px, centred
on each visible part location — the synthetic set's class-carrying part, or every annotated CUB
part (beak, crown, ...). Chance is the expected hit rate of a peak placed uniformly at random:
the share of pixels inside the parts' squares. Mass in box: the share of the map's total mass
inside the object box; chance is the box's share of the image (a uniform map).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The synthetic set annotates its class part and the object's centre; only the former is scored.
DISCRIMINATIVE = "discriminative_part"


def part_indices(part_names: list[str]) -> list[int]:
    """The parts the pointing game scores: the named discriminative part when present, else all."""
    if DISCRIMINATIVE in part_names:
        return [part_names.index(DISCRIMINATIVE)]
    return list(range(len(part_names)))


def part_masks(parts: np.ndarray, size: int, side: float) -> np.ndarray:
    """(N, size, size) bool: pixel centres inside a `side`-wide square around any visible part."""
    c = np.arange(size) + 0.5
    out = np.zeros((len(parts), size, size), dtype=bool)
    for p in range(parts.shape[1]):
        x, y, vis = parts[:, p, 0], parts[:, p, 1], parts[:, p, 2] > 0
        inx = np.abs(c[None, :] - x[:, None]) <= side / 2
        iny = np.abs(c[None, :] - y[:, None]) <= side / 2
        out |= (iny[:, :, None] & inx[:, None, :]) & vis[:, None, None]
    return out


def box_masks(boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) bool: pixel centres inside each x, y, w, h box."""
    c = np.arange(size) + 0.5
    x0, y0, w, h = (boxes[:, i, None] for i in range(4))
    inx = (c[None] >= x0) & (c[None] < x0 + w)
    iny = (c[None] >= y0) & (c[None] < y0 + h)
    return iny[:, :, None] & inx[:, None, :]


@dataclass(frozen=True)
class SaliencyScores:
    pointing_game: float  # share of scored images whose map peak hits a part square
    pointing_chance: float  # expected share for a uniformly random peak
    mass_in_object: float  # mean share of map mass inside the object box
    mass_chance: float  # mean box area share (a uniform map)
    num_scored: int  # images with at least one visible part
    hits: np.ndarray  # (num_scored,) bool, per scored image


def score(maps: np.ndarray, parts: np.ndarray, boxes: np.ndarray, part_size: float) -> SaliencyScores:
    """Score (N, H, W) maps (H == W) against part locations (N, P, 3) and boxes (N, 4)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"maps must be (N, S, S), got {maps.shape}")
    n, size = len(maps), maps.shape[-1]
    pm = part_masks(np.asarray(parts, dtype=np.float64), size, part_size)
    scored = pm.any(axis=(1, 2))
    peak = maps.reshape(n, -1).argmax(axis=1)
    hits = pm.reshape(n, -1)[np.arange(n), peak][scored]
    bm = box_masks(np.asarray(boxes, dtype=np.float64), size)
    mass = maps.reshape(n, -1).sum(1)
    inside = (maps * bm).reshape(n, -1).sum(1)
    share = np.divide(inside, mass, out=np.zeros(n), where=mass > 0)
    return SaliencyScores(
        pointing_game=float(hits.mean()) if len(hits) else float("nan"),
        pointing_chance=float(pm[scored].mean(axis=(1, 2)).mean()) if scored.any() else float("nan"),
        mass_in_object=float(share.mean()) if n else float("nan"),
        mass_chance=float(bm.mean(axis=(1, 2)).mean()) if n else float("nan"),
        num_scored=int(scored.sum()),
        hits=hits,
    )

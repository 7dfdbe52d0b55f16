"""A procedurally generated fine-grained dataset, written in the CUB-200-2011 layout.

Design (why it is *fine-grained*):

- Every image shows one object of the same global shape for every class: a large ellipse body
  with a round head, painted in a colour drawn from one shared vocabulary.
- The class lives only in a small square *part* on the body: a 4x4 grid of cells coloured from a
  shared pattern palette; each class owns one grid, all grids differ in at least 5 cells.
- The background is cluttered with the same vocabulary: object-coloured blobs, and *distractor*
  parts, each sitting on a blob at least as wide as the part (`blob_scale`), so that its
  neighbourhood looks like that of a part on the body. Several
  other classes appear, each 1..`distractor_copies` times, and the true class's own pattern
  appears 0..`distractor_copies`-1 more times in the background, so every class present in an image
  has the same count distribution: a network that pools evidence over the whole image cannot tell
  which of the classes present is the true one; only the part that sits on the large body tells it.
  Nothing of the clutter overlaps the object's box.
- Ground truth written beside the images: the object's box (`bounding_boxes.txt`) and the part's
  centre (`parts/part_locs.txt`, part 1); `synthetic.json` holds the generator's parameters, the
  part size and the class patterns.

Every image is drawn from its own random stream, `SeedSequence([seed, image_index])`, so the
dataset is a pure function of the parameters.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dsah.io import atomic_dir

# Shared colour vocabularies (RGB in [0, 1]). Body colours are also used by background blobs.
BODY_COLOURS = np.array(
    [[0.55, 0.42, 0.30], [0.45, 0.50, 0.35], [0.60, 0.55, 0.45], [0.40, 0.40, 0.45]]
)
PATTERN_COLOURS = np.array([[0.08, 0.08, 0.08], [0.95, 0.95, 0.92], [0.85, 0.20, 0.15], [0.20, 0.35, 0.85]])
GRID = 4  # the part is a GRID x GRID pattern of cells
MIN_CELL_DIFF = 5
PART_NAMES = ("discriminative_part", "object_centre")


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # H x W x 3 uint8
    box: tuple[float, float, float, float]  # x, y, w, h (CUB convention, top-left corner)
    part_centre: tuple[float, float]
    distractor_classes: tuple[int, ...]


def class_patterns(num_classes: int, seed: int) -> np.ndarray:
    """One GRID x GRID grid of pattern-colour indices per class, pairwise distinct in >= MIN_CELL_DIFF cells."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC1A55]))
    patterns: list[np.ndarray] = []
    tries = 0
    while len(patterns) < num_classes:
        tries += 1
        if tries > 1_000_000:
            raise RuntimeError(f"cannot draw {num_classes} patterns that differ in {MIN_CELL_DIFF} cells")
        p = rng.integers(0, len(PATTERN_COLOURS), size=(GRID, GRID))
        if all((p != q).sum() >= MIN_CELL_DIFF for q in patterns):
            patterns.append(p)
    return np.stack(patterns)


def _ellipse(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0


def _paint_part(img: np.ndarray, pattern: np.ndarray, x0: int, y0: int, size: int) -> None:
    cells = np.repeat(np.repeat(pattern, size // GRID, 0), size // GRID, 1)
    img[y0 : y0 + size, x0 : x0 + size] = PATTERN_COLOURS[cells]


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = 1) -> bool:
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    return not (ax1 + gap <= bx0 or bx1 + gap <= ax0 or ay1 + gap <= by0 or by1 + gap <= ay0)


def render(label: int, patterns: np.ndarray, p, rng: np.random.Generator) -> Sample:
    """Draw one image of class `label`. `p` is a SyntheticParams."""
    s, ps = p.image_size, p.part_size
    ps -= ps % GRID  # cells must be whole pixels
    # Background: a smooth two-colour gradient, muted, plus pixel noise.
    c0, c1 = rng.uniform(0.25, 0.75, size=(2, 3))
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:s, 0:s] / (s - 1)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    img = c0 * (1 - t) + c1 * t

    # Object: body ellipse + head circle, shared shape, random size, position and body colour.
    for _ in range(100):
        # The body must hold the part with a margin, whatever the image size.
        rx = max(rng.uniform(0.20, 0.27) * s, 1.3 * ps)
        ry = max(rng.uniform(0.14, 0.19) * s, 1.0 * ps)
        hr = rng.uniform(0.09, 0.12) * s
        facing = rng.choice([-1, 1])
        cx = rng.uniform(rx + 2 * hr, s - rx - 2 * hr) if s - 2 * (rx + 2 * hr) > 0 else s / 2
        cy = rng.uniform(ry + hr + 1, s - ry - 1)
        hx, hy = cx + facing * (rx + 0.6 * hr), cy - ry * 0.6
        x0 = min(cx - rx, hx - hr); x1 = max(cx + rx, hx + hr)
        y0 = min(cy - ry, hy - hr); y1 = max(cy + ry, hy + hr)
        if x0 >= 0 and y0 >= 0 and x1 <= s and y1 <= s:
            break
    body = _ellipse(s, s, cx, cy, rx, ry)
    head = _ellipse(s, s, hx, hy, hr, hr)
    colour = BODY_COLOURS[rng.integers(len(BODY_COLOURS))] + rng.normal(0, 0.03, 3)
    img[body | head] = colour
    box_i = (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))

    # The class part: a square fully inside the body ellipse.
    for _ in range(1000):
        px = int(rng.integers(int(cx - rx), int(cx + rx) - ps + 1))
        py = int(rng.integers(int(cy - ry), int(cy + ry) - ps + 1))
        if body[py : py + ps, px : px + ps].all():
            break
    else:  # pragma: no cover - the body is always much larger than the part
        raise RuntimeError("part does not fit on the body")
    _paint_part(img, patterns[label], px, py, ps)

    # Clutter outside the object's box: distractor parts of other classes on blobs, and plain blobs.
    # Every class present gets the same count distribution: a distractor class appears 1..copies
    # times, the true class once on the body plus 0..copies-1 times in the background. Counting
    # patterns over the image therefore cannot tell which class is the true one; only location can.
    others = [c for c in range(len(patterns)) if c != label]
    chosen = tuple(int(c) for c in rng.choice(others, size=p.distractor_classes, replace=False))
    counts = rng.integers(1, p.distractor_copies + 1, size=len(chosen))
    items = [c for c, n in zip(chosen, counts) for _ in range(n)]
    items += [label] * int(rng.integers(0, p.distractor_copies)) + [-1] * p.blobs
    items = [items[i] for i in rng.permutation(len(items))]
    taken = [box_i]
    for item in items:
        r = ps * rng.uniform(p.blob_scale[0], p.blob_scale[1])
        for _ in range(200):
            bx, by = rng.uniform(r, s - r), rng.uniform(r, s - r)
            rect = (int(bx - r), int(by - r), int(np.ceil(bx + r)), int(np.ceil(by + r)))
            if not any(_overlaps(rect, t) for t in taken):
                break
        else:
            continue  # no room left; the image keeps fewer blobs (rare at the default sizes)
        taken.append(rect)
        img[_ellipse(s, s, bx, by, r, r * rng.uniform(0.7, 1.0))] = (
            BODY_COLOURS[rng.integers(len(BODY_COLOURS))] + rng.normal(0, 0.03, 3)
        )
        if item >= 0:
            _paint_part(img, patterns[item], int(bx - ps / 2), int(by - ps / 2), ps)

    img = img + rng.normal(0, 0.03, img.shape)
    image = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    box = (float(box_i[0]), float(box_i[1]), float(box_i[2] - box_i[0]), float(box_i[3] - box_i[1]))
    return Sample(image, box, (px + ps / 2, py + ps / 2), chosen)


def generate(root: str | Path, p) -> Path:
    """Write the dataset for SyntheticParams `p` to `root` (replaced atomically) and return it."""
    root = Path(root)
    patterns = class_patterns(p.num_classes, p.seed)
    per_class = p.train_per_class + p.test_per_class
    names = [f"{c + 1:03d}.Synthetic_{c + 1:03d}" for c in range(p.num_classes)]
    with atomic_dir(root) as out:
        (out / "parts").mkdir()
        images, labels, split, boxes, parts = [], [], [], [], []
        for c, name in enumerate(names):
            (out / "images" / name).mkdir(parents=True)
            # The train/test assignment inside a class is itself seeded, like a real split file.
            is_train = np.zeros(per_class, dtype=int)
            is_train[np.random.default_rng([p.seed, c, 7]).permutation(per_class)[: p.train_per_class]] = 1
            for k in range(per_class):
                idx = len(images) + 1
                sample = render(c, patterns, p, np.random.default_rng(np.random.SeedSequence([p.seed, idx])))
                rel = f"{name}/{name.split('.', 1)[1]}_{k + 1:04d}.png"
                Image.fromarray(sample.image).save(out / "images" / rel)
                images.append(f"{idx} {rel}")
                labels.append(f"{idx} {c + 1}")
                split.append(f"{idx} {is_train[k]}")
                boxes.append(f"{idx} " + " ".join(f"{v:.1f}" for v in sample.box))
                parts.append(f"{idx} 1 {sample.part_centre[0]:.1f} {sample.part_centre[1]:.1f} 1")
                cx, cy = sample.box[0] + sample.box[2] / 2, sample.box[1] + sample.box[3] / 2
                parts.append(f"{idx} 2 {cx:.1f} {cy:.1f} 1")

        def write(rel: str, lines: list[str]) -> None:
            (out / rel).write_text("\n".join(lines) + "\n")

        write("images.txt", images)
        write("image_class_labels.txt", labels)
        write("train_test_split.txt", split)
        write("classes.txt", [f"{c + 1} {n}" for c, n in enumerate(names)])
        write("bounding_boxes.txt", boxes)
        write("parts/parts.txt", [f"{i + 1} {n}" for i, n in enumerate(PART_NAMES)])
        write("parts/part_locs.txt", parts)
        meta = {
            "generator": "dsah.data.synthetic",
            "params": p.model_dump(mode="json"),
            "part_size": p.part_size - p.part_size % GRID,
            "patterns": patterns.tolist(),
            "pattern_colours": PATTERN_COLOURS.tolist(),
            "body_colours": BODY_COLOURS.tolist(),
        }
        (out / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
        (out / "README").write_text(
            "Synthetic fine-grained dataset generated by dsah.data.synthetic in the CUB-200-2011 layout.\n"
            "Regenerate it with the prepare stage; see synthetic.json for the parameters.\n"
        )
    return root

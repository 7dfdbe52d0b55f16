"""The embedded dataset: deterministic, in the CUB layout, with ground truth that matches the pixels."""
import hashlib
import json

import numpy as np
import pytest

from dsah.config import SyntheticParams
from dsah.data import cub, synthetic


def tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_is_cub(tiny_synthetic):
    root, params = tiny_synthetic
    p = params.data.synthetic
    for rel in ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt",
                "bounding_boxes.txt", "parts/parts.txt", "parts/part_locs.txt", "synthetic.json"):
        assert (root / rel).is_file(), rel
    rec = cub.load(root)
    n = p.num_classes * (p.train_per_class + p.test_per_class)
    assert len(rec) == n
    assert rec.train.sum() == p.num_classes * p.train_per_class
    assert np.bincount(rec.labels[rec.train]).tolist() == [p.train_per_class] * p.num_classes
    assert all(path.is_file() for path in rec.paths)
    assert rec.class_names[0] == "001.Synthetic_001"
    assert rec.part_names == list(synthetic.PART_NAMES)


def test_ground_truth_is_consistent(tiny_synthetic):
    root, params = tiny_synthetic
    rec = cub.load(root)
    s = params.data.synthetic.image_size
    x, y, w, h = rec.boxes.T
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= s).all() and (y + h <= s).all()
    px, py, vis = rec.part_locs[:, 0].T
    assert (vis == 1).all()
    assert ((px > x) & (px < x + w) & (py > y) & (py < y + h)).all(), "the part lies on the object"


def test_the_part_carries_the_class(tiny_synthetic):
    """The pixels at the part location reproduce the class pattern."""
    from PIL import Image

    root, params = tiny_synthetic
    rec = cub.load(root)
    meta = json.loads((root / "synthetic.json").read_text())
    ps, cell = meta["part_size"], meta["part_size"] // synthetic.GRID
    colours = np.array(meta["pattern_colours"]) * 255
    for i in range(0, len(rec), 7):
        img = np.asarray(Image.open(rec.paths[i])).astype(float)
        cx, cy = rec.part_locs[i, 0, :2]
        x0, y0 = int(cx - ps / 2), int(cy - ps / 2)
        centres = img[y0 + cell // 2 : y0 + ps : cell, x0 + cell // 2 : x0 + ps : cell]
        nearest = np.linalg.norm(centres[..., None, :] - colours, axis=-1).argmin(-1)
        assert nearest.tolist() == meta["patterns"][rec.labels[i]]


def test_distractors_are_other_classes_outside_the_box():
    p = SyntheticParams(num_classes=10, image_size=64, part_size=8, distractor_classes=3, distractor_copies=2)
    patterns = synthetic.class_patterns(p.num_classes, p.seed)
    for k in range(20):
        s = synthetic.render(k % 10, patterns, p, np.random.default_rng(k))
        assert len(set(s.distractor_classes)) == 3 and k % 10 not in s.distractor_classes


def test_patterns_differ_enough():
    pats = synthetic.class_patterns(50, 3)
    diffs = (pats[:, None] != pats[None]).sum(axis=(2, 3))
    np.fill_diagonal(diffs, 99)
    assert diffs.min() >= synthetic.MIN_CELL_DIFF


def test_generation_is_deterministic(tmp_path, tiny_synthetic):
    root, params = tiny_synthetic
    again = synthetic.generate(tmp_path / "again", params.data.synthetic)
    assert tree_digest(again) == tree_digest(root)
    other = synthetic.generate(tmp_path / "other", params.data.synthetic.model_copy(update={"seed": 1}))
    assert tree_digest(other) != tree_digest(root)


def test_failed_generation_leaves_the_old_dataset(tmp_path, tiny_synthetic, monkeypatch):
    root, params = tiny_synthetic
    target = synthetic.generate(tmp_path / "ds", params.data.synthetic)
    before = tree_digest(target)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "render", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        synthetic.generate(target, params.data.synthetic)
    assert tree_digest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"], "no half-written folder left behind"

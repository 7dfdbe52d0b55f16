"""Training: runs, learns, is reproducible, and the oracle mask hides everything outside the box."""
import numpy as np
import pytest
import torch

from dsah.data.batches import BalancedBatches, box_masks, random_shift
from dsah.metrics import mean_average_precision
from dsah.methods.oracle_mask import OracleMask
from dsah.retrieval import binary_codes
from dsah.train import resolve_device, train


def test_same_seed_same_codes_on_cpu(tiny_data):
    data, params = tiny_data
    codes = []
    for _ in range(2):
        res = train(params, "hash_only", 12, data, log=lambda s: None)
        codes.append(binary_codes(res.method, data.test, data.meta))
    assert codes[0].shape == (len(data.test), 12)
    assert np.array_equal(codes[0], codes[1])
    other = params.model_copy(update={"train": params.train.model_copy(update={"seed": 1})})
    res = train(other, "hash_only", 12, data, log=lambda s: None)
    assert not np.array_equal(binary_codes(res.method, data.test, data.meta), codes[0])


def test_training_lowers_the_loss_and_beats_chance(tiny_data):
    data, params = tiny_data
    longer = params.model_copy(update={"train": params.train.model_copy(update={"epochs": 15})})
    lines = []
    res = train(longer, "oracle_mask", 24, data, log=lines.append)
    assert len(res.history) == 15 and "epoch 15/15" in lines[-1]
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    db = binary_codes(res.method, data.train, data.meta)
    fit = mean_average_precision(db, db, data.train.labels, data.train.labels).map
    assert fit > 0.5, f"training-set mAP {fit:.2f}: the model did not learn"


def test_oracle_mask_sets_outside_of_box_to_mean():
    m = OracleMask.__new__(OracleMask)
    x = torch.randn(1, 3, 8, 8)
    box = box_masks(torch.tensor([[2.0, 1.0, 3.0, 4.0]]), 8)
    v = m.view(x, box)
    assert (v[..., :1, :] == 0).all() and (v[..., :, :2] == 0).all() and (v[..., 5:, :] == 0).all()
    assert torch.equal(v[..., 1:5, 2:5], x[..., 1:5, 2:5])


def test_box_masks_cover_pixel_centres_and_missing_boxes():
    m = box_masks(torch.tensor([[1.0, 0.0, 2.0, 1.0], [float("nan")] * 4]), 4)
    assert m[0, 0].tolist() == [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert (m[1] == 1).all()


def test_random_shift_moves_boxes_with_images():
    x = torch.zeros(32, 1, 12, 12)
    x[:, 0, 4, 5] = 1  # one bright pixel per image, and its 1-px box
    boxes = torch.tensor([[5.0, 4.0, 1.0, 1.0]]).repeat(32, 1)
    y, b = random_shift(x, boxes, 2, torch.Generator().manual_seed(3))
    moved = 0
    for i in range(32):
        row, col = (y[i, 0] == 1).nonzero()[0].tolist()
        assert (col, row) == (int(b[i, 0]), int(b[i, 1]))  # the box follows the pixel
        assert abs(col - 5) <= 2 and abs(row - 4) <= 2 and y[i].sum() == 1  # within the shift, nothing lost
        moved += (col, row) != (5, 4)
    assert moved >= 16  # the images really move (25 shifts, one of them (0, 0))
    assert {(int(b[i, 0]), int(b[i, 1])) for i in range(32)} != {(5, 4)}


def test_balanced_batches():
    labels = np.repeat(np.arange(6), 5)
    batches = list(BalancedBatches(labels, 3, 2, seed=0))
    assert len(batches) == 5
    for idx in batches:
        counts = np.bincount(labels[idx], minlength=6)
        assert sorted(counts[counts > 0].tolist()) == [2, 2, 2]


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device is available"):
            resolve_device("cuda")


def test_provenance_ignores_pipeline_outputs(tmp_path):
    import subprocess

    from dsah.provenance import git_version

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dsah").mkdir()
    (tmp_path / "dsah" / "x.py").write_text("a = 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.lock").write_text("changed by dvc repro\n")
    v = git_version(tmp_path)
    assert len(v["commit"]) == 40 and v["dirty"] is False
    (tmp_path / "dsah" / "x.py").write_text("a = 2\n")
    assert git_version(tmp_path)["dirty"] is True

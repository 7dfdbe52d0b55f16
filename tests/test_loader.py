"""The training input pipeline (DataLoader over the store, crop/flip with boxes and parts) and fine-tuning controls."""
import numpy as np
import pytest
import torch

from dsah import config
from dsah.data.loader import CropFlip, train_loader
from dsah.data.prepared import Split
from dsah.models.finetune import calibrate


def _split(n=16, full=40, size=32, seed=0):
    """Images stored at `full` px: black, with a white box (the object) and one red 3x3 part inside it."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 3, full, full), dtype=np.uint8)
    boxes = np.zeros((n, 4), dtype=np.float32)
    parts = np.zeros((n, 1, 3), dtype=np.float32)
    for i in range(n):
        x, y = rng.integers(2, 14, 2)
        w, h = rng.integers(12, 22, 2)
        images[i, :, y : y + h, x : x + w] = 255
        px, py = x + w // 2, y + h // 2
        images[i, 1:, py - 1 : py + 2, px - 1 : px + 2] = 0  # red part
        boxes[i] = [x, y, w, h]
        parts[i, 0] = [px + 0.5, py + 0.5, 1]
    o = (full - size) // 2
    view_parts = parts.copy()
    view_parts[..., :2] -= o
    return Split(images[:, :, o : o + size, o : o + size], np.arange(n) % 4, boxes - [o, o, 0, 0], view_parts,
                 np.arange(n), images, o)


def test_crop_flip_boxes_and_parts_follow_the_pixels():
    split = _split()
    stored, boxes, parts = split.source
    assert np.array_equal(boxes, split.boxes + [split.offset, split.offset, 0, 0])
    crop = CropFlip(32, (0.5, 1.0))
    inside_white, outside_white, part_red = [], [], []
    for i in range(len(stored)):
        img, b, p = crop(torch.from_numpy(stored[i]), torch.from_numpy(boxes[i]), torch.from_numpy(parts[i]), seed=i)
        assert img.shape == (3, 32, 32) and img.dtype == torch.uint8
        white = (img.float().mean(0) > 127).numpy()
        c = np.arange(32) + 0.5
        m = (c[None, :] >= b[0].item()) & (c[None, :] < b[0].item() + b[2].item())
        m = (c[:, None] >= b[1].item()) & (c[:, None] < b[1].item() + b[3].item()) & m
        if m.sum() > 4:
            inside_white.append(white[m].mean())
        if (~m).sum() > 4:
            outside_white.append(white[~m].mean())
        if p[0, 2] > 0:
            x, y = int(p[0, 0]), int(p[0, 1])
            r, g = img[0, y, x].item(), img[1, y, x].item()
            part_red.append(r > 150 and g < 150)
    assert np.mean(inside_white) > 0.9 and np.mean(outside_white) < 0.1
    assert len(part_red) > 8 and np.mean(part_red) > 0.9


def test_crop_flip_keeps_missing_boxes_missing():
    img = torch.zeros(3, 40, 40, dtype=torch.uint8)
    _, b, p = CropFlip(32, (0.5, 1.0))(img, torch.full((4,), float("nan")), torch.zeros(0, 3), seed=0)
    assert torch.isnan(b).all() and p.shape == (0, 3)


def _params(augment, workers=0):
    raw = config.load("profiles/fast.yaml").model_dump()
    raw["train"].update(augment=augment, workers=workers, classes_per_batch=2, images_per_class=2)
    raw["data"].update(image_size=32, store_size=40)
    return config.parse(raw)


def _batches(params, split):
    return [(b.images.clone(), b.boxes.clone(), b.labels.clone()) for b in train_loader(split, params, torch.device("cpu"))]


def test_same_batches_with_0_and_2_workers():
    split = _split()
    one, two = _batches(_params("crop_flip", 0), split), _batches(_params("crop_flip", 2), split)
    assert len(one) == len(two) == 4
    for (a, ab, al), (b, bb, bl) in zip(one, two):
        assert torch.equal(a, b) and torch.equal(al, bl) and torch.allclose(ab, bb)


@pytest.mark.parametrize("augment", ["shift", "none"])
def test_shift_and_none_read_the_view_unchanged(augment):
    """The loader hands over the centre view itself (the shifts are a batch operation of the training loop)."""
    from dsah.data.batches import BalancedBatches

    split = _split()
    params = _params(augment)
    ref = list(BalancedBatches(split.labels, 2, 2, params.train.seed))
    batches = _batches(params, split)
    assert len(batches) == len(ref) == 4
    for (img, box, lab), idx in zip(batches, ref):
        assert torch.equal(img, torch.from_numpy(split.images[idx]))  # the centre view, as evaluation sees it
        assert torch.equal(box, torch.from_numpy(split.boxes[idx]))
        assert torch.equal(lab, torch.from_numpy(split.labels[idx]))
    assert not torch.equal(batches[0][0], torch.from_numpy(split.source[0][ref[0]][..., :32, :32]))  # not the store


def test_calibration_keeps_eval_output_and_takes_data_statistics():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4))
    with torch.no_grad():  # a folded BatchNorm: identity around a bias, as the converted weights have
        for bn in (net[1], net[4]):
            bn.weight.fill_(1), bn.bias.normal_(), bn.running_mean.zero_(), bn.running_var.fill_(1 - bn.eps)
    x = torch.randn(64, 3, 8, 8) * 3 + 1
    net.eval()
    before = net(x)
    pre = net[0](x)
    assert calibrate(net, x, batch_size=16) == 2
    assert torch.allclose(net(x), before, atol=1e-4)  # eval output unchanged
    assert torch.allclose(net[1].running_mean, pre.mean((0, 2, 3)), atol=1e-4)
    assert torch.allclose(net[1].running_var, pre.var((0, 2, 3), unbiased=False), atol=1e-3)
    net.train()  # train mode (batch statistics) now stays close to the eval output
    assert torch.nn.functional.cosine_similarity(net(x).flatten(), before.flatten(), dim=0) > 0.9


def test_backbone_learns_at_its_share_of_the_rate_and_frozen_blocks_not_at_all():
    from dsah.methods.hash_only import HashOnly

    raw = config.load("profiles/fast.yaml").model_dump()
    raw["model"].update(backbone="mobilenet_v2", freeze_blocks=3)
    raw["train"].update(backbone_lr=0.1)
    params = config.parse(raw)
    m = HashOnly(params, 12, torch.device("cpu"))
    groups = m.opt.param_groups
    lr = params.train.lr
    assert [g["lr"] for g in groups] == pytest.approx([0.1 * lr, lr])
    trainable = {id(p) for g in groups for p in g["params"]}
    frozen = list(m.net.backbone.net.features[:3].parameters())
    assert frozen and not any(id(p) in trainable for p in frozen)
    assert {id(p) for p in m.net.head.parameters()} <= {id(p) for p in groups[1]["params"]}


def test_mobilenet_attention_trunk():
    from dsah.models.attention import build_attention

    att = build_attention("mobilenet_v2", freeze_blocks=4)
    x = torch.randn(2, 3, 64, 64)
    s = att(x)
    assert s.shape == (2, 1, 64, 64) and torch.allclose(s, torch.full_like(s, 0.5))  # zero head: uniform 0.5
    att.train()
    assert not att.trunk[3].training and att.trunk[5].training
    assert not any(p.requires_grad for p in att.trunk[:4].parameters())
    with pytest.raises(ValueError, match="the mobilenet_v2 trunk has 14 blocks"):
        build_attention("mobilenet_v2", freeze_blocks=15)

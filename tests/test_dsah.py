"""DSaH: the two steps touch only their own network, the losses by hand, maps, codes, reproducibility."""
import math

import numpy as np
import pytest
import torch

from dsah import methods
from dsah.data.batches import box_masks
from dsah.losses import (pairwise_terms, relaxed_hamming, saliency_distance_loss, saliency_ranking_loss,
                         similarity)
from dsah.methods.dsah import Dsah, map_statistics, view_statistics
from dsah.models.attention import SmallAttention, TorchvisionAttention, build_attention, salient, zoom_grid
from dsah.retrieval import binary_codes
from dsah.train import snapshot_epochs, train


def _batch(n=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.arange(n) // 2
    box = box_masks(torch.tensor([[4.0, 4.0, 20.0, 16.0]] * n), size)
    return x, y, box


def _params(fast_params, **dsah):
    return fast_params.model_copy(update={"attention": fast_params.attention.model_copy(update=dsah)})


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return [k for k, v in module.state_dict().items() if not torch.equal(before[k], v)]


def test_step1_updates_only_the_hashing_network(fast_params):
    torch.manual_seed(0)
    m = Dsah(fast_params, 12, torch.device("cpu"))
    x, y, box = _batch()
    att, net = _snapshot(m.attention), _snapshot(m.net)
    out = m.hashing_step(x, y, box)
    assert _changed(att, m.attention) == []
    assert any(k.endswith("weight") for k in _changed(net, m.net))
    assert set(out) == {"loss", "semantic", "quantization"}


def test_step2_updates_only_the_attention_network_through_the_frozen_hashing_network(fast_params):
    torch.manual_seed(0)
    m = Dsah(fast_params, 12, torch.device("cpu"))
    x, y, box = _batch()
    m.hashing_step(x, y, box)
    m.attention_step(x, y, box)  # the zero-initialised head moves: gradients reach the encoder
    m.net.zero_grad(set_to_none=True)
    att, net = _snapshot(m.attention), _snapshot(m.net)
    grads = {}
    hooks = [p.register_hook(lambda g, n=n: grads.__setitem__(n, g.abs().sum().item()))
             for n, p in m.attention.named_parameters()]
    m.attention_step(x, y, box)
    for h in hooks:
        h.remove()
    # batch-norm running statistics included: the frozen network is not touched at all
    assert _changed(net, m.net) == []
    assert all(p.grad is None for p in m.net.parameters())
    assert all(p.requires_grad for p in m.net.parameters()), "step 2 must unfreeze the hashing network after itself"
    assert grads["head.weight"] > 0 and grads["stem.0.weight"] > 0
    assert "head.weight" in _changed(att, m.attention)


@pytest.mark.parametrize("frozen_norm", ["running", "batch"])
def test_step2_leaves_batchnorm_momentum_and_mode_as_found(fast_params, frozen_norm):
    m = Dsah(_params(fast_params, frozen_norm=frozen_norm), 12, torch.device("cpu"))
    x, y, box = _batch()
    momenta = [mod.momentum for mod in m.net.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    m.attention_step(x, y, box)
    assert [mod.momentum for mod in m.net.modules() if isinstance(mod, torch.nn.BatchNorm2d)] == momenta
    assert m.net.training


def test_ranking_saliency_loss_by_hand():
    u = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    v = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # off-diagonal pairs only: (0, 1) and (1, 0), both dissimilar.
    # theta_u = 1/2 u0.u1 = 0 -> l = log 2; theta_v = 1/2 v0.v1 = -1 -> l = log(1 + e^-1)
    gap = math.log(1 + math.exp(-1)) - math.log(2)
    for margin in (0.0, 0.5):
        expected = max(0.0, gap + margin)
        assert saliency_ranking_loss(u, v, s, margin).item() == pytest.approx(expected, rel=1e-6)


def test_ranking_loss_does_not_pass_gradient_to_the_original_codes():
    u = torch.randn(4, 6, requires_grad=True)
    v = torch.randn(4, 6, requires_grad=True)
    s = similarity(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 0, 1, 1]))
    saliency_ranking_loss(torch.tanh(u), torch.tanh(v), s, 10.0).backward()
    assert u.grad is None and v.grad.abs().sum() > 0


def test_distance_saliency_loss_by_hand():
    u = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, -1.0]])  # Hamming distance 1
    v = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # distance 0
    assert relaxed_hamming(u, u)[0, 1].item() == 1.0
    similar = torch.ones(2, 2)
    # similar pair got 1 bit closer: max(0, (0 - 1) + margin)
    assert saliency_distance_loss(u, v, similar, 0.5).item() == pytest.approx(0.0)
    assert saliency_distance_loss(u, v, similar, 2.0).item() == pytest.approx(1.0)
    # the same move is wrong for a dissimilar pair: max(0, -(0 - 1) + margin)
    assert saliency_distance_loss(u, v, torch.eye(2), 0.5).item() == pytest.approx(1.5)


@pytest.mark.parametrize("size", [32, 37, 64])
@pytest.mark.parametrize("out_stride", [1, 2, 8])
def test_small_attention_map_shape_and_range(size, out_stride):
    torch.manual_seed(0)
    a = SmallAttention(width=4, levels=3, out_stride=out_stride, init_bias=0.0)
    torch.nn.init.normal_(a.head.weight, std=0.3)  # a map that is not uniform
    s = a(torch.randn(2, 3, size, size))
    assert s.shape == (2, 1, size, size)
    assert (s > 0).all() and (s < 1).all() and s.std() > 0


def test_initial_map_is_uniform_sigmoid_of_init_bias():
    a = SmallAttention(width=4, levels=2, out_stride=4, init_bias=1.5)
    s = a(torch.randn(2, 3, 16, 16))
    assert torch.allclose(s, torch.full_like(s, torch.sigmoid(torch.tensor(1.5)).item()))


def test_torchvision_attention_map():
    a = TorchvisionAttention("resnet18")
    assert a(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    with pytest.raises(ValueError, match="no pretrained weights"):
        build_attention("small", pretrained=True)
    with pytest.raises(ValueError, match="unknown"):
        build_attention("vit")


def test_an_all_ones_map_gives_the_original_image(fast_params):
    x, _, box = _batch()
    assert torch.equal(salient(x, torch.ones(len(x), 1, 32, 32)), x)
    m = Dsah(fast_params, 12, torch.device("cpu"))
    m.train(False)
    m.attention.forward = lambda inp: torch.ones(len(inp), 1, *inp.shape[-2:])
    assert torch.equal(m.encode(x, box), m.net(x))


def test_codes_options(fast_params):
    x, _, box = _batch()
    torch.manual_seed(0)
    base = Dsah(fast_params, 12, torch.device("cpu"))
    base.train(False)
    u = base.net(x)
    v = base.net(salient(x, base.attention(x)))
    for codes, expected in (("salient", v), ("original", u), ("fused", 0.5 * (u + v))):
        m = Dsah(fast_params.model_copy(update={"eval": fast_params.eval.model_copy(update={"codes": codes})}),
                 12, torch.device("cpu"))
        m.load_state_dict(base.state_dict())
        m.train(False)
        assert torch.allclose(m.encode(x, box), expected, atol=1e-6), codes


def test_schedule_options(fast_params):
    def plan(**kw):
        m = Dsah(_params(fast_params, **kw), 12, torch.device("cpu"))
        steps = []
        for epoch in range(4):
            m.epoch = epoch
            for batch in range(4):
                m.batch = batch
                steps.append(m._steps_now())
        return steps

    per_batch = plan()
    assert all(s == (True, True) for s in per_batch)
    every2 = plan(attention_every=2)
    assert [s[1] for s in every2[:4]] == [True, False, True, False]
    warm = plan(warmup_epochs=2)
    assert all(s == (True, False) for s in warm[:8]) and all(s == (True, True) for s in warm[8:])
    by_epoch = plan(alternate="epoch")
    assert by_epoch[0] == (True, False) and by_epoch[4] == (False, True) and by_epoch[8] == (True, False)


def test_nosal_trains_the_attention_with_the_semantic_loss_of_salient_pairs(fast_params):
    torch.manual_seed(0)
    m = methods.get("dsah_nosal")(fast_params, 12, torch.device("cpu"))
    u, v = torch.tanh(torch.randn(4, 12)), torch.tanh(torch.randn(4, 12))
    y = torch.tensor([0, 0, 1, 1])
    s = similarity(y, y)
    terms = pairwise_terms(v, v, s)
    expected = terms[~torch.eye(4, dtype=torch.bool)].mean()
    assert m.saliency_term(u, v, y, s).item() == pytest.approx(expected.item())


def test_map_statistics():
    smap = torch.zeros(1, 1, 4, 4)
    smap[..., :2, :2] = 1.0
    box = torch.zeros(1, 1, 4, 4)
    box[..., :2, :] = 1
    st = map_statistics(smap, box)
    std = torch.tensor([1.0] * 4 + [0.0] * 12).std().item()  # one map: 4 of its 16 pixels on
    assert st == pytest.approx({"map_mean": 0.25, "map_above_half": 0.25, "map_in_object": 1.0, "map_std": std})
    assert map_statistics(torch.full((2, 1, 4, 4), 0.7), box)["map_std"] == 0.0  # flat maps: not engaged


def test_same_seed_same_dsah_codes_and_map_snapshots(tiny_data):
    data, params = tiny_data
    runs = []
    for _ in range(2):
        res = train(params, "dsah", 12, data, log=lambda s: None)
        runs.append((binary_codes(res.method, data.test, data.meta), res))
    (c0, r0), (c1, r1) = runs
    assert c0.shape == (len(data.test), 12) and np.array_equal(c0, c1)
    assert sorted(r0.maps) == sorted(snapshot_epochs(params.train.epochs))
    assert all(np.array_equal(r0.maps[e], r1.maps[e]) for e in r0.maps)
    row = r0.history[-1]
    assert {"saliency", "map_mean", "map_above_half", "map_in_object", "view_change", "bits_equal_uv"} <= set(row)
    assert 0 < row["map_mean"] < 1 and 0 <= row["map_in_object"] <= 1
    assert row["view_change"] > 0 and 0 <= row["bits_equal_uv"] <= 1


def test_view_statistics():
    x = torch.tensor([[1.0, -2.0], [3.0, -4.0]])
    u = torch.tensor([[0.5, -0.5, 0.1, 0.2]])
    v = torch.tensor([[0.4, 0.5, -0.1, 0.3]])
    assert view_statistics(x, x, u, u) == {"view_change": 0.0, "bits_equal_uv": 1.0}
    st = view_statistics(x, 0.5 * x, u, v)
    assert st["view_change"] == pytest.approx(0.5) and st["bits_equal_uv"] == 0.5


@pytest.mark.filterwarnings("ignore:Detected call of")  # end_epoch without a step: only the schedules matter here
def test_the_attention_schedule_starts_after_the_warmup(fast_params):
    """A warm-up's epochs do not use up the attention's cosine schedule: its first step 2 learns at dsah.attention_lr."""
    p = _params(fast_params, warmup_epochs=2, attention_lr=0.01, attention_lr_schedule="cosine")
    p = p.model_copy(update={"train": p.train.model_copy(update={"epochs": 4, "lr_schedule": "cosine"})})
    m = Dsah(p, 12, torch.device("cpu"))
    lrs = []
    for _ in range(4):
        lrs.append(m.att_opt.param_groups[-1]["lr"])
        m.end_epoch()
    assert lrs[:3] == [0.01, 0.01, 0.01] and lrs[3] == pytest.approx(0.005)


def test_snapshot_epochs():
    assert snapshot_epochs(1) == {1}
    assert snapshot_epochs(30) == {1, 8, 15, 22, 30}


def test_dsah_with_torchvision_networks_trains_a_step_and_encodes(fast_params):
    """The real-data configuration: a ResNet hashing backbone and a ResNet attention trunk (random init)."""
    p = fast_params.model_copy(update={
        "model": fast_params.model.model_copy(update={"backbone": "resnet18"}),
        "attention": _params(fast_params, attention="resnet18").attention,
    })
    torch.manual_seed(0)
    m = Dsah(p, 16, torch.device("cpu"))
    for module in m.modules().values():
        module.to(memory_format=torch.channels_last)  # as train() does
    x, y, box = _batch(n=8, size=64)
    x = x.contiguous(memory_format=torch.channels_last)
    out = m.train_step(x, y, box)
    assert {"loss", "saliency", "map_mean"} <= set(out) | set(m.end_epoch())
    m.train(False)
    assert m.encode(x, box).shape == (8, 16) and m.saliency(x).shape == (8, 1, 64, 64)


def test_blurred_salient_view_keeps_the_image_where_the_map_is_one_and_blurs_elsewhere():
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(salient(x, torch.ones(2, 1, 32, 32), "blur"), x)
    blurred = salient(x, torch.zeros(2, 1, 32, 32), "blur")
    assert blurred.std() < 0.5 * x.std()  # a blurred copy of white noise is much flatter
    s = torch.full((2, 1, 32, 32), 0.5, requires_grad=True)
    salient(x, s, "blur").sum().backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="salient_view"):
        salient(x, s, "crop")


def test_zoom_view_is_the_image_under_a_uniform_map_and_magnifies_a_salient_square():
    x = torch.randn(2, 3, 64, 64)
    for level in (0.05, 0.7, 1.0):  # any uniform map: no zoom at all (the border is not pulled in)
        assert torch.allclose(salient(x, torch.full((2, 1, 64, 64), level), "zoom"), x, atol=1e-3)
    m = torch.full((1, 1, 64, 64), 0.05)
    m[..., 8:24, 8:24] = 1.0  # a salient square: 1/16 of the image, in its top-left quadrant
    grid = zoom_grid(m, (64, 64))
    gx, gy = grid[0, ..., 0], grid[0, ..., 1]
    inside = ((gx > -0.75) & (gx < -0.25) & (gy > -0.75) & (gy < -0.25)).float().mean()
    assert inside > 3 * (16 * 16) / (64 * 64)  # the square takes far more than its 1/16 of the output
    assert (grid.diff(dim=2)[..., 0] >= -1e-6).all() and (grid.diff(dim=1)[..., 1] >= -1e-6).all()  # no folds
    s = torch.full((2, 1, 64, 64), 0.5)
    s[:, :, 20:30, 30:40] = 0.9
    s.requires_grad_(True)
    (salient(x, s, "zoom") * torch.randn_like(x)).sum().backward()
    assert s.grad is not None and s.grad.abs().sum() > 0  # step 2 reaches the attention network


def test_dsah_trains_with_the_zoom_view(fast_params):
    m = Dsah(_params(fast_params, salient_view="zoom"), 12, torch.device("cpu"))
    x, y, box = _batch(n=8, size=64)
    out = m.train_step(x, y, box)
    assert all(math.isfinite(v) for v in out.values())
    assert m.encode(x, box).shape == (8, 12)


def test_margin_bits_scales_the_distance_margin_with_the_code_length(fast_params):
    assert Dsah(_params(fast_params, margin=4.0), 48, torch.device("cpu")).margin == 4.0  # default: in bits at any K
    scaled = _params(fast_params, margin=4.0, margin_bits=12)
    assert Dsah(scaled, 12, torch.device("cpu")).margin == 4.0
    assert Dsah(scaled, 48, torch.device("cpu")).margin == 16.0
    ranking = _params(fast_params, margin=0.1, margin_bits=12, saliency_loss="ranking")
    assert Dsah(ranking, 48, torch.device("cpu")).margin == 0.1  # loss units: not a number of bits


def test_attention_lr_schedule_constant_keeps_the_attention_lr_while_the_hashing_lr_decays(fast_params):
    m = Dsah(_params(fast_params, attention_lr=0.005, attention_lr_schedule="constant"), 12, torch.device("cpu"))
    x, y, box = _batch(n=8, size=64)
    m.train_step(x, y, box)
    m.end_epoch()
    assert m.att_opt.param_groups[0]["lr"] == pytest.approx(0.005)
    assert m.opt.param_groups[0]["lr"] < fast_params.train.lr  # train.lr_schedule: cosine
    same = Dsah(_params(fast_params, attention_lr=0.005, attention_lr_schedule=None), 12, torch.device("cpu"))  # None: train.lr_schedule
    same.train_step(x, y, box)
    same.end_epoch()
    assert same.att_opt.param_groups[0]["lr"] < 0.005


def test_alternate_epoch_the_attention_schedule_counts_only_attention_epochs(fast_params):
    """With alternate=epoch the hashing-only epochs do not advance the attention's cosine: it spans the
    attention epochs (1 and 3 of 0..3), starts at dsah.attention_lr and reaches 0 only after the last."""
    p = _params(fast_params, alternate="epoch", attention_lr=0.01, attention_lr_schedule="cosine")
    p = p.model_copy(update={"train": p.train.model_copy(update={"epochs": 4, "lr_schedule": "cosine"})})
    m = Dsah(p, 12, torch.device("cpu"))
    assert m.attention_epochs() == 2
    lrs, steps = [], []
    for _ in range(4):
        steps.append(m._steps_now())
        lrs.append(m.att_opt.param_groups[-1]["lr"])
        m.end_epoch()
    assert steps == [(True, False), (False, True), (True, False), (False, True)]
    assert lrs[:2] == [0.01, 0.01] and lrs[2:] == [pytest.approx(0.005)] * 2
    assert m.att_opt.param_groups[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_the_zoom_view_from_a_high_resolution_source():
    """dsah.salient_source: hires — the zoom samples a larger copy of the same view at the input's size: a
    uniform map gives the copy's plain (bilinear) resize, a salient square is magnified from the copy's
    pixels, and step 2's gradient reaches the map through the sampling grid."""
    import torch.nn.functional as F

    hires = torch.randn(2, 3, 112, 112)
    x = F.interpolate(hires, size=64, mode="bilinear", align_corners=False)
    for level in (0.1, 0.5, 1.0):
        assert torch.allclose(salient(x, torch.full((2, 1, 64, 64), level), "zoom", hires), x, atol=1e-3)
    m = torch.full((2, 1, 64, 64), 0.05)
    m[..., 8:24, 8:24] = 1.0
    zoomed = salient(x, m, "zoom", hires)
    expected = F.grid_sample(hires, zoom_grid(m, (64, 64)), mode="bilinear", padding_mode="border", align_corners=False)
    assert torch.allclose(zoomed, expected) and not torch.allclose(zoomed, salient(x, m, "zoom"), atol=1e-2)
    s = m.clone().requires_grad_(True)
    (salient(x, s, "zoom", hires) * torch.randn_like(x)).sum().backward()
    assert s.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="only the zoom view samples a high-resolution source"):
        salient(x, m, "fade", hires)


def test_dsah_with_a_high_resolution_source_trains_and_needs_the_copy(fast_params):
    m = Dsah(_params(fast_params, salient_view="zoom", salient_source="hires"), 12, torch.device("cpu"))
    assert m.needs_hires and not Dsah(fast_params, 12, torch.device("cpu")).needs_hires
    x, y, box = _batch(n=8, size=32)
    hires = torch.nn.functional.interpolate(x, size=48, mode="bilinear")
    before = _snapshot(m.attention)
    out = m.train_step(x, y, box, hires=hires)
    assert all(math.isfinite(v) for v in out.values()) and _changed(before, m.attention)  # step 2 learned
    assert m.encode(x, box, hires=hires).shape == (8, 12)
    with pytest.raises(ValueError, match="high-resolution images .* were not given"):
        m.encode(x, box)


def test_a_high_resolution_source_is_checked_in_the_parameters(fast_params):
    from dsah import config

    raw = fast_params.model_dump(mode="json")
    raw["attention"].update(salient_view="zoom", salient_source="hires")
    with pytest.raises(config.ConfigError, match="needs data.hires_size"):
        config.parse(raw)
    raw["data"]["hires_size"] = 48
    with pytest.raises(config.ConfigError, match="needs train.augment=none"):
        config.parse(raw)
    raw["train"]["augment"] = "none"
    assert config.parse(raw).attention.salient_source == "hires"
    raw["attention"]["salient_view"] = "fade"
    with pytest.raises(config.ConfigError, match="salient_source=hires needs salient_view=zoom"):
        config.parse(raw)
    raw["attention"]["salient_view"], raw["data"]["hires_size"] = "zoom", 32
    with pytest.raises(config.ConfigError, match="hires_size=32 must be larger than image_size=32"):
        config.parse(raw)

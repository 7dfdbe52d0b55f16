"""Loss values against hand-computed cases."""
import math

import pytest
import torch

from dsah.losses import pairwise_loss, pairwise_terms, quantization_loss, similarity, theta_scale


def softplus(x):
    return math.log1p(math.exp(x))


def test_similarity_single_and_multi_label():
    assert similarity(torch.tensor([0, 1, 0]), torch.tensor([0, 1])).tolist() == [[1, 0], [0, 1], [1, 0]]
    multi = torch.tensor([[1, 0, 1], [0, 1, 0]])
    assert similarity(multi, multi).tolist() == [[1, 0], [0, 1]]


def test_pairwise_terms_by_hand():
    a = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = pairwise_terms(a, a, s)
    # theta = 1/2 a.b: 1 on the diagonal, 0 off it.
    assert t[0, 0].item() == pytest.approx(softplus(1.0) - 1.0)
    assert t[0, 1].item() == pytest.approx(softplus(0.0))


def test_pairwise_loss_excludes_self_pairs():
    a = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, -1.0]])
    y = torch.tensor([0, 0, 1])
    s = similarity(y, y)
    # off-diagonal thetas: (0,1)=1/2, (0,2)=-3/2, (1,2)=-1/2 ; s(0,1)=1
    expected = 2 * ((softplus(0.5) - 0.5) + softplus(-1.5) + softplus(-0.5)) / 6
    assert pairwise_loss(a, a, s).item() == pytest.approx(expected)
    assert pairwise_loss(a, a, s, exclude_self=False).item() == pytest.approx(pairwise_terms(a, a, s).mean().item())


def test_pairwise_loss_is_stable_for_long_codes():
    a = torch.full((2, 4096), 1.0)
    val = pairwise_loss(a, a, torch.zeros(2, 2))
    assert torch.isfinite(val) and val.item() == pytest.approx(2048.0)  # theta = 4096 / 2, s = 0


def test_quantization_loss_per_bit():
    u = torch.tensor([[0.5, -0.5], [1.0, -0.8]])
    assert quantization_loss(u).item() == pytest.approx((0.25 + 0.25 + 0 + 0.04) / 4)
    # normalised per bit: repeating the code does not change it
    assert quantization_loss(u.repeat(1, 8)).item() == pytest.approx(quantization_loss(u).item())


def test_quantization_gradient_pulls_towards_sign():
    u = torch.tensor([[0.3, -0.6]], requires_grad=True)
    quantization_loss(u).backward()
    assert u.grad[0, 0] < 0 and u.grad[0, 1] > 0


def test_theta_scale_reads_every_code_length_on_one_scale():
    assert theta_scale(48, None) == 0.5 and theta_scale(12, None) == 0.5  # DPSH's 1/2 a.b
    assert theta_scale(12, 12) == 0.5 and theta_scale(48, 12) == pytest.approx(0.125)
    # two agreeing 48-bit codes reach the same theta as two agreeing 12-bit codes
    a12, a48 = torch.ones(1, 12), torch.ones(1, 48)
    s = torch.ones(1, 1)
    assert pairwise_terms(a48, a48, s, theta_scale(48, 12)).item() == pytest.approx(
        pairwise_terms(a12, a12, s, theta_scale(12, 12)).item())
    assert pairwise_terms(a48, a48, s, 0.125).item() == pytest.approx(softplus(6.0) - 6.0, rel=1e-4)  # float32

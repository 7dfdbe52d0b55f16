"""Each baseline's loss on a hand-computed case; centres and codebooks; ITQ; DTQ's product quantizer
and asymmetric search against brute force."""
import math

import numpy as np
import pytest
import torch

from dsah import pq, ranking
from dsah.losses import similarity
from dsah.methods.csq import ClassCodes, csq_loss, distance_stats, hash_centres
from dsah.methods.dsh import dsh_loss
from dsah.methods.dtq import dtq_loss, group_hard_triplets
from dsah.methods.greedyhash import greedyhash_loss
from dsah.methods.hashnet import beta_at, hashnet_loss
from dsah.methods.itq import itq_rotation
from dsah.methods.orthohash import orthohash_loss


def test_dsh_loss_by_hand():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # d = 2, K = 2: margin 4
    same = dsh_loss(u, torch.ones(2, 2), alpha=0.1)
    assert same["pairs"].item() == pytest.approx(0.5 * 2)
    assert same["regulariser"].item() == pytest.approx(0.5)  # | |u| - 1 | = 0, 1, 1, 0
    assert same["loss"].item() == pytest.approx(1.0 + 0.05)
    other = dsh_loss(u, torch.eye(2), alpha=0.0)  # the off-diagonal pairs are dissimilar
    assert other["loss"].item() == pytest.approx(0.5 * (4 - 2))


def test_hashnet_loss_by_hand():
    h = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = similarity(torch.tensor([0, 0, 1]), torch.tensor([0, 0, 1]))
    a = math.log(1 + math.e) - 1  # similar pair, theta = 1
    # 2 similar ordered pairs (weight 6/2), 4 dissimilar with theta = 0 (weight 6/4)
    assert hashnet_loss(h, s, alpha=1.0)["loss"].item() == pytest.approx((a + math.log(2)) / 2)
    assert beta_at(0, 10, 7.14) == 1.0 and beta_at(9, 10, 7.14) == pytest.approx(7.14)


def test_greedyhash_loss_and_straight_through_gradient():
    z = torch.tensor([[0.5, -2.0]], requires_grad=True)
    w = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        w.weight.copy_(torch.eye(2))
    out = greedyhash_loss(z, w, torch.tensor([0]), alpha=1.0)
    assert out["classification"].item() == pytest.approx(math.log(1 + math.exp(-2)))
    assert out["penalty"].item() == pytest.approx((0.5 ** 3 + 1.0) / 2)
    out["classification"].backward()
    b = torch.tensor([[1.0, -1.0]], requires_grad=True)  # sign(z)
    torch.nn.functional.cross_entropy(w(b), torch.tensor([0])).backward()
    assert torch.allclose(z.grad, b.grad)  # the gradient of b, passed to z unchanged


def test_csq_loss_by_hand():
    z = torch.zeros(2, 4)
    c = torch.tensor([[1.0, -1, 1, -1], [-1.0, -1, 1, 1]])
    out = csq_loss(z, c, lam=0.5)
    assert out["central"].item() == pytest.approx(math.log(2))
    assert out["loss"].item() == pytest.approx(math.log(2) + 0.5)
    z = torch.tensor([[3.0, -3.0, 3.0, -3.0]])  # on its centre: BCE = log(1 + e^-6) per bit
    assert csq_loss(z, c[:1], 0.0)["loss"].item() == pytest.approx(math.log(1 + math.exp(-6)), rel=1e-4)


def test_orthohash_loss_by_hand():
    v = torch.tensor([[1.0, 0.0]])
    codes = torch.tensor([[1.0, 1.0], [1.0, -1.0]])  # both at cosine 1/sqrt(2)
    out = orthohash_loss(v, codes, torch.tensor([0]), scale=8.0, margin=0.2)
    assert out["loss"].item() == pytest.approx(math.log(1 + math.exp(8 * 0.2)), rel=1e-6)
    multi = orthohash_loss(v, codes, torch.tensor([[1, 1]]), scale=8.0, margin=0.2)
    assert multi["loss"].item() == pytest.approx(math.log(2), rel=1e-6)  # both positive, equal logits


def test_dtq_triplets_and_loss_by_hand():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    out = dtq_loss(z, y, margin=10.0, gen=torch.Generator().manual_seed(0))
    # (a=0, p=1, n=2): 1 - 4 + 10 = 7; (a=1, p=0, n=2): 1 - 1 + 10 = 10
    assert out["triplets"].item() == 2 and out["loss"].item() == pytest.approx(8.5)
    assert dtq_loss(z, y, margin=0.5, gen=torch.Generator())["triplets"].item() == 1  # only 0 - 0 < 0.5


def test_group_hard_negatives_obey_the_margin():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(24, 8, generator=g)
    y = torch.arange(24) // 4
    d = torch.cdist(z, z).pow(2)
    a, p, n = group_hard_triplets(d, similarity(y, y), 3.0, torch.Generator().manual_seed(0))
    assert len(a) > 0
    assert (y[a] == y[p]).all() and (a != p).all() and (y[a] != y[n]).all()
    assert (d[a, n] - d[a, p] < 3.0).all()


def test_hadamard_centres_at_powers_of_two_and_best_balanced_draws_elsewhere():
    c = hash_centres(10, 32, draws=5, seed=0)
    assert distance_stats(c)["centre_min_distance"] == 16  # rows of a Hadamard matrix and their negatives
    c12 = hash_centres(20, 12, draws=50, seed=0)
    assert c12.shape == (20, 12) and (c12.sum(axis=1) == 0).all()  # balanced: six -1 per centre
    one = distance_stats(hash_centres(20, 12, draws=1, seed=0))
    assert distance_stats(c12)["centre_min_distance"] >= one["centre_min_distance"]
    codes = ClassCodes(np.array([[1, 1, -1, -1], [1, -1, 1, -1]]), seed=0)
    t = codes.targets(torch.tensor([[1, 1]]))  # sign of the sum, zeros replaced by the fixed vector
    assert t[0, 0] == 1 and t[0, 3] == -1 and torch.equal(t[0, 1:3], codes.fill[1:3])


def test_itq_error_never_increases_and_rotation_is_orthogonal():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((500, 40)) @ rng.standard_normal((40, 40)), 0)
    x -= x.mean(axis=0)
    v = x @ np.linalg.svd(x, full_matrices=False)[2][:16].T
    r, errors = itq_rotation(v, 30, np.random.default_rng(0))
    assert np.allclose(r @ r.T, np.eye(16), atol=1e-10)
    assert all(b <= a + 1e-9 for a, b in zip(errors, errors[1:])) and errors[-1] < errors[0]


@pytest.mark.parametrize("bits,n,shape", [(12, 1000, (2, 6)), (24, 1000, (3, 8)), (32, 1000, (4, 8)),
                                          (48, 1000, (6, 8)), (12, 40, (3, 4))])
def test_pq_shape(bits, n, shape):
    assert pq.pq_shape(bits, 96, n) == shape


def test_pq_shape_error_names_the_setting():
    with pytest.raises(ValueError, match="method.dtq.dim"):
        pq.pq_shape(12, 7, 1000)


def test_product_quantizer_and_asymmetric_search_against_brute_force():
    import faiss

    rng = np.random.default_rng(0)
    db = rng.standard_normal((400, 24)).astype(np.float32)
    q = rng.standard_normal((30, 24)).astype(np.float32)
    quant = pq.fit(db, 24)  # 3 sub-codebooks of 256 codewords, 8-dimensional sub-vectors
    assert (quant.m, quant.nbits, quant.bits) == (3, 8, 24) and quant.codes().shape == (400, 3)
    cent = faiss.vector_to_array(quant.index.pq.centroids).reshape(3, 256, 8)
    # each item's code is the nearest codeword of each sub-space, and decodes to those codewords
    sub = db.reshape(400, 3, 8)
    nearest = np.stack([((sub[:, m, None, :] - cent[m][None]) ** 2).sum(-1).argmin(1) for m in range(3)], 1)
    assert np.array_equal(quant.codes(), nearest.astype(np.uint8))
    z_hat = np.concatenate([cent[m][nearest[:, m]] for m in range(3)], axis=1)
    assert np.allclose(quant.reconstruction(), z_hat)
    dist = pq.aqd(q, quant.reconstruction())
    brute = ((q[:, None, :].astype(np.float64) - z_hat[None]) ** 2).sum(-1)
    assert np.allclose(dist, brute, atol=1e-6)
    fd, fi = quant.index.search(q, 400)  # faiss's own asymmetric search: the same distances
    assert np.allclose(np.take_along_axis(dist, fi, 1), fd, rtol=1e-4, atol=1e-3)


def test_distance_suite_equals_the_hamming_suite_on_hamming_distances():
    from dsah import hamming

    rng = np.random.default_rng(0)
    for multi in (False, True):
        q, db = rng.choice([-1, 1], (40, 12)), rng.choice([-1, 1], (200, 12))
        if multi:
            ql, dl = (rng.random((40, 5)) < 0.3).astype(np.int8), (rng.random((200, 5)) < 0.3).astype(np.int8)
        else:
            ql, dl = rng.integers(0, 6, 40), rng.integers(0, 6, 200)
        a = hamming.suite(q, db, ql, dl, top_k=(10, 100), precision_n=(10, 100))
        d = (12 - q @ db.T) // 2
        b = ranking.distance_suite(d.astype(float), ql, dl, top_k=(10, 100), precision_n=(10, 100), chunk=16)
        for k, v in b.items():
            if k == "curves":
                for kk in v["rank"]:
                    assert np.allclose(a[k]["rank"][kk], v["rank"][kk], atol=1e-12)
            else:
                assert v == pytest.approx(a[k], abs=1e-12), k

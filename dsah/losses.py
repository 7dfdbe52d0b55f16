"""Loss terms (see docs/method.md for the equations and what the paper fixes).

Semantic loss: DPSH's pairwise likelihood. For relaxed codes a_i, b_j in (-1, 1)^K,
    theta_ij = c a_i . b_j,   l_ij = log(1 + exp(theta_ij)) - s_ij theta_ij,
averaged over the pairs of a mini-batch (self-pairs i == j left out when a and b are one batch).
DPSH's c is 1/2 at every code length; `theta_scale` gives c = 1/2 x train.theta_bits / K, which reads
the inner product on one scale at every length (docs/log.md, "Long codes").
Quantization loss: mean over images *and bits* of (u - sign(u))^2, normalised per bit so its
scale does not grow with K.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def similarity(labels_a: torch.Tensor, labels_b: torch.Tensor) -> torch.Tensor:
    """s_ij = 1 when the items share a label. Accepts class indices (N,) or multi-hot rows (N, C)."""
    if labels_a.dim() == 1:
        return (labels_a[:, None] == labels_b[None, :]).float()
    return ((labels_a.float() @ labels_b.float().T) > 0).float()


def theta_scale(bits: int, theta_bits: int | None) -> float:
    """c in theta_ij = c a_i . b_j: DPSH's 1/2 (theta_bits None), or 1/2 x theta_bits / bits.

    With DPSH's fixed 1/2, theta grows with the code length: at 48 bits pairs reach the likelihood's
    flat ends while each bit is still far from +-1, so long codes stop learning early (docs/method.md).
    """
    return 0.5 if theta_bits is None else 0.5 * theta_bits / bits


def pairwise_terms(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """The matrix of l_ij (theta = scale a . b), using softplus for numerical stability."""
    theta = scale * a @ b.T
    return F.softplus(theta) - s * theta


def pairwise_loss(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, exclude_self: bool = True,
                  scale: float = 0.5) -> torch.Tensor:
    """Mean of l_ij over pairs; with `exclude_self`, the diagonal (an item paired with itself) is left out."""
    terms = pairwise_terms(a, b, s, scale)
    if exclude_self and terms.shape[0] == terms.shape[1] and terms.shape[0] > 1:
        off = ~torch.eye(terms.shape[0], dtype=torch.bool, device=terms.device)
        return terms[off].mean()
    return terms.mean()


def quantization_loss(u: torch.Tensor) -> torch.Tensor:
    """mean_i ||u_i - sign(u_i)||^2 / K."""
    return (u - torch.sign(u).detach()).pow(2).mean()


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    if m.shape[0] == m.shape[1] and m.shape[0] > 1:
        return m[~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)]
    return m.flatten()


def saliency_ranking_loss(u: torch.Tensor, v: torch.Tensor, s: torch.Tensor, margin: float,
                          scale: float = 0.5) -> torch.Tensor:
    """mean_ij max(0, l_ij(v, v) - l_ij(u, u) + margin): the salient pair must beat the original pair.

    `u` (original-image codes) is a target here: it is detached, so gradients reach the attention
    network only through `v`.
    """
    u = u.detach()
    gap = pairwise_terms(v, v, s, scale) - pairwise_terms(u, u, s, scale) + margin
    return _off_diagonal(F.relu(gap)).mean()


def relaxed_hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(K - a_i . b_j) / 2: the Hamming distance for codes in {-1, +1}, relaxed to (-1, 1)^K."""
    return 0.5 * (a.shape[1] - a @ b.T)


def saliency_distance_loss(u: torch.Tensor, v: torch.Tensor, s: torch.Tensor, margin: float) -> torch.Tensor:
    """Distance form: after saliency, similar pairs at least `margin` bits closer, dissimilar pairs farther.

    mean_ij max(0, sign_ij (d_ij(v) - d_ij(u)) + margin), sign_ij = +1 for similar, -1 for dissimilar.
    """
    u = u.detach()
    sign = 2 * s - 1
    gap = sign * (relaxed_hamming(v, v) - relaxed_hamming(u, u)) + margin
    return _off_diagonal(F.relu(gap)).mean()

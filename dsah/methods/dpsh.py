"""`dpsh`: DPSH (Li, Wang, Kang, "Feature Learning based Deep Supervised Hashing with Pairwise Labels",
IJCAI 2016). `hash_only` with DPSH's own theta at every code length: with `train.theta_bits: null` the
two are one method (same codes); with the default `theta_bits: 12` they differ above 12 bits, where
`hash_only` (DSaH's ablation) reads theta on DSaH's scale and `dpsh` keeps the reference 1/2.

Loss: DPSH's pairwise likelihood, theta_ij = 1/2 u_i . u_j, l_ij = log(1 + e^theta) - s_ij theta, plus
train.quant_weight x mean (u - sign u)^2. Deviations from the reference code (DHP `DPSH.py`): pairs
within the class-balanced batch (i != j), not against a memory bank of all N images; u = tanh(z), not
the raw output z; Adam with the protocol's schedule instead of RMSprop 1e-5.
"""
from __future__ import annotations

from dsah.methods.hash_only import HashOnly


class Dpsh(HashOnly):
    name = "dpsh"
    description = "DPSH pairwise likelihood (theta = 1/2 u.u at every length) + quantization"
    paper_name = "dpsh"

    def theta(self) -> float:
        return 0.5  # the reference's, whatever train.theta_bits says

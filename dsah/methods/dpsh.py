"""`dpsh`: DPSH (Li, Wang, Kang, "Feature Learning based Deep Supervised Hashing with Pairwise Labels",
IJCAI 2016) — the name under which `hash_only` appears in comparisons. One method, two names: the
same class, loss and numbers as `hash_only` (train one of the two; the report says they are the same).

Loss: DPSH's pairwise likelihood, theta_ij = 1/2 u_i . u_j, l_ij = log(1 + e^theta) - s_ij theta, plus
train.quant_weight x mean (u - sign u)^2. Deviations from the reference code (DHP `DPSH.py`): pairs
within the class-balanced batch (i != j), not against a memory bank of all N images; u = tanh(z), not
the raw output z; Adam with the protocol's schedule instead of RMSprop 1e-5.
"""
from __future__ import annotations

from dsah.methods.hash_only import HashOnly


class Dpsh(HashOnly):
    name = "dpsh"
    description = "DPSH pairwise likelihood + quantization (the same method as hash_only)"
    same_as = "hash_only"

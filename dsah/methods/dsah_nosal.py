"""`dsah_nosal`: the "no saliency loss" ablation — DSaH with the attention network trained by the
semantic loss of the salient pairs alone, L_sem(v, v), no ranking against the original pair.
Everything else (networks, schedule, codes) is `dsah`'s.
"""
from __future__ import annotations

from dsah.methods.dsah import Dsah


class DsahNoSal(Dsah):
    name = "dsah_nosal"
    description = "DSaH with the attention trained by L_sem(v, v) only (no saliency ranking)"
    saliency_loss = "none"
    ablation = True

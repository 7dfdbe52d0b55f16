"""`oracle_mask`: `hash_only` on images whose pixels outside the ground-truth object box are set to
the dataset mean, for training and for encoding. An oracle saliency map: the headroom an attention
network could win on a dataset, not a method one could deploy (it needs boxes at query time).
"""
from __future__ import annotations

from dsah.methods.hash_only import HashOnly


class OracleMask(HashOnly):
    name = "oracle_mask"
    description = "hash_only on images masked to the ground-truth object box (oracle saliency)"
    oracle = True  # needs the box at query time: the headroom's upper end, never deployable
    reference = "hash_only"

    def view(self, x, box):
        return x * box  # normalised images: 0 is the dataset mean

"""`oracle_mask`: `hash_only` on images whose pixels outside the ground-truth object box are set to
the dataset mean, for training and for encoding. An oracle saliency map: the headroom an attention
network could win on a dataset, not a method one could deploy (it needs boxes at query time).
`oracle_mask_<base>` is the same mask on any other base the attention plug-in composes over (dsah.py):
the headroom of `dsah_<base>`.
"""
from __future__ import annotations

from dsah.methods.hash_only import HashOnly


class MaskToBox:
    """Mixed in before a hashing method: it sees (and encodes) images masked to the object box."""

    oracle = True  # needs the box at query time: the headroom's upper end, never deployable
    composes = True

    def view(self, x, box):
        return x * box  # normalised images: 0 is the dataset mean

    @classmethod
    def accepts(cls, base) -> str | None:
        from dsah.methods.dsah import Attention

        return Attention.accepts.__func__(cls, base)  # the bases the attention plug-in composes over

    @classmethod
    def over(cls, base) -> type:
        name = f"{cls.name}_{base.name}"
        return type(f"MaskToBoxOver{base.__name__}", (MaskToBox, base), {
            "name": name, "description": f"{base.name} on images masked to the ground-truth object box (oracle)",
            "__doc__": f"`{name}`: `{base.name}` on images masked to the object box, the oracle of `dsah_{base.name}`.",
            "__module__": cls.__module__, "reference": base.name, "base": base.name})


class OracleMask(MaskToBox, HashOnly):
    name = "oracle_mask"
    description = "hash_only on images masked to the ground-truth object box (oracle saliency)"
    reference = "hash_only"

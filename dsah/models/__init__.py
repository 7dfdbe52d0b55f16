"""Networks: backbones and the hashing network (the attention network comes with DSaH)."""
from dsah.models.backbones import build_backbone
from dsah.models.hashing import HashingNetwork

__all__ = ["build_backbone", "HashingNetwork"]

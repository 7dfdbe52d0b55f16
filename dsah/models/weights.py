"""ImageNet weights for torchvision backbones, from torch's cache or an explicit file; never downloaded."""
from __future__ import annotations

import os
from pathlib import Path

import torch

# File names torchvision uses for its default ImageNet weights (torchvision.models.*_Weights.DEFAULT).
WEIGHT_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
    "vgg16": "vgg16-397923af.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
}


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_pretrained(name: str) -> dict:
    """State dict of ImageNet weights for `name`: `$DSAH_WEIGHTS_<NAME>` if set, else torch's cache."""
    explicit = os.environ.get(f"DSAH_WEIGHTS_{name.upper()}")
    path = Path(explicit) if explicit else cache_dir() / WEIGHT_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for {name} not found at {path}. This machine does not download them: copy "
            f"{WEIGHT_FILES[name]} (from torchvision's download URL, or another machine's {cache_dir()}) to "
            f"{cache_dir()}, or point DSAH_WEIGHTS_{name.upper()} at the file, or set model.pretrained: false "
            "to train from scratch."
        )
    try:  # weights_only: a state dict of tensors, never arbitrary pickled objects
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or truncated files
        raise ValueError(f"{path}: not a loadable {name} state dict ({type(err).__name__}: {str(err)[:200]})") from None

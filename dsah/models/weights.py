"""ImageNet weights for torchvision backbones, from torch's cache or an explicit file; never downloaded.

A weights file is a torchvision state dict. A converted one (`python -m dsah.cli.import_tflite`)
carries one more entry, `dsah_meta`: the padding its convolutions were trained with and the input
normalisation it expects. torchvision's own files expect ImageNet mean/std and torchvision's padding.
"""
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
    "mobilenet_v2": "mobilenet_v2-7ebf99e0.pth",
}

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TORCHVISION_META = {"padding": "torch", "input_mean": IMAGENET_MEAN, "input_std": IMAGENET_STD}


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_pretrained(name: str) -> tuple[dict, dict]:
    """(state dict, meta) of ImageNet weights for `name`: `$DSAH_WEIGHTS_<NAME>` if set, else torch's cache.

    meta: `padding` ("torch" or "tf_same"), `input_mean`, `input_std` (of x in 0..1).
    """
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
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or truncated files
        raise ValueError(f"{path}: not a loadable {name} state dict ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a loadable {name} state dict (a {type(state).__name__}, not a dict)")
    meta = {**TORCHVISION_META, **state.pop("dsah_meta", {})}
    if meta.get("architecture", name) != name:
        raise ValueError(f"{path}: weights of {meta['architecture']}, not {name}")
    return state, meta

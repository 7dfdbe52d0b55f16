"""torchvision's MobileNetV2 with TensorFlow's "SAME" padding, for weights trained in TensorFlow.

TF pads a stride-2 3x3 convolution on an even input by 0 at the top/left and 1 at the bottom/right;
torchvision pads 1 on every side. The weights converted from the TFLite file
(`python -m dsah.cli.import_tflite`) were trained with TF's padding: with torchvision's, their
top-1 agreement with the TFLite interpreter falls from ~97 % to ~77 % (../shared/models/NOTES.md).
The padding is behaviour, not a state-dict entry, so the converted file records it
(`meta["padding"] = "tf_same"`) and every place that builds a backbone from such weights applies it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TFSameConv2d(nn.Conv2d):
    """An nn.Conv2d (same parameters and state-dict keys) that pads like TF's "SAME", per input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return self._conv_forward(F.pad(x, (left, right, top, bottom)), self.weight, self.bias)


def use_tf_padding(model: nn.Module) -> nn.Module:
    """Make every strided convolution of `model` pad like TF (in place; stride-1 3x3 "SAME" = padding 1)."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d) and max(mod.stride) > 1 and type(mod) is nn.Conv2d:
            mod.__class__ = TFSameConv2d  # same parameters and buffers: only forward changes
            mod.padding = (0, 0)
    return model


def uses_tf_padding(model: nn.Module) -> bool:
    return any(isinstance(m, TFSameConv2d) for m in model.modules())


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, nn.Conv2d, nn.BatchNorm2d]]:
    """Every convolution of a torchvision MobileNetV2 with the BatchNorm that follows it, in module order."""
    mods = list(model.named_modules())
    pairs = []
    for i, (name, m) in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            bn = next(b for _, b in mods[i + 1 :] if isinstance(b, nn.BatchNorm2d))
            pairs.append((name, m, bn))
    return pairs


def build(num_classes: int = 1000, tf_padding: bool = False) -> nn.Module:
    import torchvision.models as tvm

    net = tvm.mobilenet_v2(weights=None, num_classes=num_classes)
    return use_tf_padding(net) if tf_padding else net

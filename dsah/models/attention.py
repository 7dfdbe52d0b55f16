"""The attention network: a fully convolutional encoder-decoder giving a one-channel saliency map.

The map S = sigmoid(logits), computed at `1/out_stride` of the input resolution and upsampled
bilinearly (logits first, so the map stays in (0, 1)) to the input size. The salient image is the
normalised image times the map, so suppressed pixels become the dataset mean (0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dsah.models.backbones import _norm


def _block(cin: int, cout: int, norm: str, stride: int = 1) -> nn.Sequential:
    # Replicate padding: zero padding makes the border look different from the interior, and the
    # decoder then paints a band along the edge (seen in a prototype; it fooled the pointing game).
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="replicate", bias=norm == "none"),
        _norm(norm, cout),
        nn.ReLU(inplace=True),
    )


class SmallAttention(nn.Module):
    """U-Net-like: a conv stem, `levels` stride-2 encoder blocks, then decoder blocks (bilinear
    upsampling + skip connection + conv) back to stride `out_stride`, and a 1x1 conv to logits.

    The stem itself has stride 2 unless the map is wanted at full resolution (out_stride 1): the
    full-resolution block dominated the network's cost. At 64 px with levels=3 and stride-2 stem the
    deepest features (stride 16) see the whole object; the default hashing backbone sees 18 px.
    """

    def __init__(self, width: int = 8, levels: int = 3, norm: str = "batch", out_stride: int = 8, init_bias: float = 0.0):
        super().__init__()
        if levels < 1:
            raise ValueError(f"attention levels={levels}: must be at least 1")
        stem_stride = 1 if out_stride == 1 else 2
        strides = [stem_stride * 2**i for i in range(levels + 1)]
        if out_stride not in strides:
            raise ValueError(f"attention out_stride={out_stride}: must be one of {strides} with {levels} levels")
        chans = [width * min(2**i, 4) for i in range(levels + 1)]
        self.stem = _block(3, chans[0], norm, stride=stem_stride)
        self.down = nn.ModuleList(_block(chans[i], chans[i + 1], norm, stride=2) for i in range(levels))
        n_up = levels - strides.index(out_stride)
        self.up = nn.ModuleList(
            _block(chans[levels - i] + chans[levels - i - 1], chans[levels - i - 1], norm) for i in range(n_up)
        )
        self.head = nn.Conv2d(chans[levels - n_up], 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, init_bias)  # start from a uniform map sigmoid(init_bias)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.stem(x)]
        for d in self.down:
            feats.append(d(feats[-1]))
        h = feats[-1]
        for i, u in enumerate(self.up):
            skip = feats[-2 - i]
            h = u(torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.logits(x)
        if z.shape[-2:] != x.shape[-2:]:
            z = F.interpolate(z, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(z)


class TorchvisionAttention(nn.Module):
    """A torchvision ResNet's convolutional trunk (to layer3, stride 16) -> 1x1 conv -> upsample -> sigmoid.

    For real images at 224 px: the trunk can start from ImageNet weights (model.pretrained).
    """

    def __init__(self, name: str = "resnet18", pretrained: bool = False, init_bias: float = 0.0):
        super().__init__()
        import torchvision.models as tvm

        from dsah.models.weights import load_pretrained

        if not name.startswith("resnet"):
            raise ValueError(f"dsah.attention={name!r}: the torchvision attention network needs a resnet")
        net = getattr(tvm, name)(weights=None)
        if pretrained:
            net.load_state_dict(load_pretrained(name))
        self.trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3)
        channels = net.layer3[-1].conv1.in_channels if hasattr(net.layer3[-1], "conv1") else 256
        self.head = nn.Conv2d(channels, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, init_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.trunk(x))
        return torch.sigmoid(F.interpolate(z, size=x.shape[-2:], mode="bilinear", align_corners=False))


def build_attention(name: str, width: int = 8, levels: int = 3, norm: str = "batch", out_stride: int = 8,
                    pretrained: bool = False, init_bias: float = 0.0) -> nn.Module:
    if name == "small":
        if pretrained:
            raise ValueError("dsah.attention=small has no pretrained weights; set dsah.attention_pretrained: false")
        return SmallAttention(width, levels, norm, out_stride, init_bias)
    if name in ("resnet18", "resnet50"):
        return TorchvisionAttention(name, pretrained, init_bias)
    raise ValueError(f"dsah.attention={name!r}: unknown; allowed: small, resnet18, resnet50")


def salient(x: torch.Tensor, saliency: torch.Tensor) -> torch.Tensor:
    """x ⊙ S on normalised images; the one-channel map broadcasts over colour channels."""
    return x * saliency

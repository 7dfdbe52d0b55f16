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
from dsah.models.finetune import KeepEval, batch_norms, freeze


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
        z = self.logits(x).float()  # the map in float32 under autocast
        if z.shape[-2:] != x.shape[-2:]:
            z = F.interpolate(z, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(z)


class TorchvisionAttention(KeepEval, nn.Module):
    """A torchvision trunk at stride 16 -> 1x1 conv -> upsample -> sigmoid.

    resnet18/50: conv1 .. layer3; mobilenet_v2: `features[0..13]` (96 channels). For real images: the
    trunk can start from ImageNet weights (`dsah.attention_pretrained`), with the weights' padding.
    `freeze_blocks` early trunk blocks get no gradient (and need no backward pass at all);
    `pretrained_norm` as for the hashing network (dsah.models.finetune).
    """

    def __init__(self, name: str = "resnet18", pretrained: bool = False, init_bias: float = 0.0,
                 freeze_blocks: int = 0, pretrained_norm: str = "frozen"):
        super().__init__()
        from dsah.models.backbones import TorchvisionBackbone, blocks

        if name not in ("resnet18", "resnet50", "mobilenet_v2"):
            raise ValueError(f"dsah.attention={name!r}: the torchvision attention network needs a resnet or mobilenet_v2")
        bb = TorchvisionBackbone(name, pretrained)
        self.input_stats = bb.input_stats
        stages = blocks(bb)
        if name == "mobilenet_v2":
            stages = stages[:14]
            channels = bb.net.features[13].out_channels
        else:
            stages = [nn.Sequential(bb.net.conv1, bb.net.bn1, bb.net.relu, bb.net.maxpool), *stages[1:4]]
            channels = bb.net.layer3[-1].conv1.in_channels if hasattr(bb.net.layer3[-1], "conv1") else 256
        if freeze_blocks > len(stages):
            raise ValueError(f"dsah.attention_freeze_blocks={freeze_blocks}: the {name} trunk has {len(stages)} blocks")
        self.trunk = nn.Sequential(*stages)
        self.head = nn.Conv2d(channels, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, init_bias)
        self.keep_eval = list(stages[:freeze_blocks])
        freeze(self.keep_eval)
        if pretrained and pretrained_norm == "frozen":
            self.keep_eval += batch_norms(self.trunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.trunk(x)).float()  # the map in float32 under autocast
        return torch.sigmoid(F.interpolate(z, size=x.shape[-2:], mode="bilinear", align_corners=False))


ATTENTIONS = ("small", "resnet18", "resnet50", "mobilenet_v2")


def build_attention(name: str, width: int = 8, levels: int = 3, norm: str = "batch", out_stride: int = 8,
                    pretrained: bool = False, init_bias: float = 0.0, freeze_blocks: int = 0,
                    pretrained_norm: str = "frozen") -> nn.Module:
    if name == "small":
        if pretrained:
            raise ValueError("dsah.attention=small has no pretrained weights; set dsah.attention_pretrained: false")
        return SmallAttention(width, levels, norm, out_stride, init_bias)
    if name in ATTENTIONS:
        return TorchvisionAttention(name, pretrained, init_bias, freeze_blocks, pretrained_norm)
    raise ValueError(f"dsah.attention={name!r}: unknown; allowed: {', '.join(ATTENTIONS)}")


def salient(x: torch.Tensor, saliency: torch.Tensor, view: str = "fade", source: torch.Tensor | None = None) -> torch.Tensor:
    """The salient image of normalised images `x` under the one-channel map S (broadcast over colours).

    fade: x ⊙ S — pixels fade to the input mean (0 after normalisation) where the map is low;
    blur: S x + (1 - S) blur(x) — they fade to a Gaussian-blurred copy (sigma = 1/16 of the side), which
    keeps the image's colours and layout, closer to what a pretrained network was trained on;
    zoom: nothing fades: the image is resampled so that high-map regions take more pixels
    (`zoom_grid`; a uniform map gives the image itself). With `source` (the same field of view at a
    higher resolution, normalised alike) the zoom samples it instead of `x`, at `x`'s size: a uniform
    map then gives the source's plain bilinear resize to that size.
    """
    if source is not None and view != "zoom":
        raise ValueError(f"dsah.salient_view={view!r}: only the zoom view samples a high-resolution source")
    if view == "fade":
        return x * saliency
    if view == "blur":
        from torchvision.transforms.v2.functional import gaussian_blur

        sigma = max(x.shape[-1] / 16, 1.0)
        k = 2 * int(2 * sigma) + 1
        return saliency * x + (1 - saliency) * gaussian_blur(x, [k, k], [sigma, sigma])
    if view == "zoom":
        grid = zoom_grid(saliency, x.shape[-2:])
        src = x if source is None else source
        return F.grid_sample(src, grid.to(src.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    raise ValueError(f"dsah.salient_view={view!r}: allowed: fade, blur, zoom")


def zoom_grid(saliency: torch.Tensor, size, cells: int = 31, sigma: float = 0.18) -> torch.Tensor:
    """The sampling grid of the saliency-based sampler (Recasens et al., "Learning to Zoom", ECCV 2018).

    On a `cells` x `cells` grid over the image, every output cell samples the input at the
    saliency-weighted mean position of its neighbourhood (a Gaussian of `sigma` x the image side):
    x'(p) = sum_q S(q) k(p, q) q / sum_q S(q) k(p, q). Salient regions attract samples, so they are
    magnified; a uniform map gives the identity (the map is padded by replication and the
    coordinates continue linearly beyond the border, so the border is not pulled inwards). The grid
    is differentiable in S: step 2's gradient reaches the attention network through it.
    Returns (N, H, W, 2) in grid_sample's normalised coordinates (align_corners=False).
    """
    s = F.interpolate(saliency.float(), size=(cells, cells), mode="area")
    radius = cells // 2
    pad = F.pad(s, (radius, radius, radius, radius), mode="replicate")
    coord = (torch.arange(cells + 2 * radius, device=s.device, dtype=s.dtype) - radius + 0.5) / cells * 2 - 1
    gy, gx = torch.meshgrid(coord, coord, indexing="ij")
    offs = torch.arange(2 * radius + 1, device=s.device, dtype=s.dtype) - radius
    g1 = torch.exp(-0.5 * (offs / (sigma * cells)) ** 2)
    kernel = (g1[:, None] * g1[None, :])[None, None]
    den = F.conv2d(pad, kernel)
    num_x = F.conv2d(pad * gx, kernel)
    num_y = F.conv2d(pad * gy, kernel)
    den = den.clamp_min(1e-8)
    inner = slice(radius, radius + cells)
    shift = torch.cat([num_x / den - gx[inner, inner], num_y / den - gy[inner, inner]], 1)  # (N, 2, cells, cells)
    shift = F.interpolate(shift, size=tuple(size), mode="bilinear", align_corners=False)  # displacement, x then y
    h, w = size
    ys = (torch.arange(h, device=s.device, dtype=s.dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=s.device, dtype=s.dtype) + 0.5) / w * 2 - 1
    identity = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (H, W, 2): x then y
    return (identity + shift.permute(0, 2, 3, 1)).clamp(-1, 1)

"""Feature extractors: a small CNN for the CPU default, torchvision networks for real data.

Each backbone maps (N, 3, H, W) to (N, D) features and exposes `out_dim = D`.
"""
from __future__ import annotations

import torch
from torch import nn


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class SmallCNN(nn.Module):
    """`depth` conv-norm-ReLU blocks (3x3) with 2x2 max-pooling between them, then global average pooling.

    Receptive field of the last block: 18 px at depth 3, 38 px at depth 4, 78 px at depth 5.
    """

    def __init__(self, width: int = 32, norm: str = "batch", depth: int = 4, pool: str = "avg"):
        super().__init__()
        if not 2 <= depth <= 5:
            raise ValueError(f"model.depth={depth}: must be between 2 and 5")
        chans = [3, width, 2 * width, 4 * width, 4 * width, 4 * width][: depth + 1]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none"), _norm(norm, cout), nn.ReLU(inplace=True)]
            if i < len(chans) - 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        # Global max pooling reports the strongest local evidence anywhere; average pooling dilutes a
        # small part over the whole image.
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.out_dim = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


class TorchvisionBackbone(nn.Module):
    """A torchvision classifier with its last classification layer removed.

    Pretrained weights bring their input normalisation (`input_stats`: mean, std of x in 0..1) and,
    for weights converted from TensorFlow, TF's "SAME" padding (dsah.models.mobilenet).
    """

    def __init__(self, name: str, pretrained: bool = False):
        super().__init__()
        import torchvision.models as tvm

        from dsah.models.weights import load_pretrained

        net = getattr(tvm, name)(weights=None)
        self.input_stats = None  # None: the dataset's own mean and std
        state = meta = None
        if pretrained:
            state, meta = load_pretrained(name)
            self.input_stats = (meta["input_mean"], meta["input_std"])
        if name.startswith("resnet"):
            if state is not None:
                net.load_state_dict(state)
            self.out_dim = net.fc.in_features
            net.fc = nn.Identity()
        elif name == "mobilenet_v2":  # features -> global average pool -> 1280-d (its classifier dropped)
            self.out_dim = net.classifier[-1].in_features
            net.classifier = nn.Identity()
            if state is not None:  # a converted file has 1001 classes, torchvision's 1000: the head is not used
                net.load_state_dict({k: v for k, v in state.items() if not k.startswith("classifier.")})
        else:  # vgg16, alexnet: keep the two fully connected layers, drop the 1000-way one
            if state is not None:
                net.load_state_dict(state)
            self.out_dim = net.classifier[-1].in_features
            net.classifier = net.classifier[:-1]
        if meta is not None and meta["padding"] == "tf_same":
            from dsah.models.mobilenet import use_tf_padding

            use_tf_padding(net)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


TORCHVISION = ("resnet18", "resnet50", "vgg16", "alexnet", "mobilenet_v2")


def build_backbone(name: str, width: int = 32, norm: str = "batch", pretrained: bool = False, depth: int = 4,
                   pool: str = "avg") -> nn.Module:
    if name == "small_cnn":
        if pretrained:
            raise ValueError("model.pretrained: small_cnn has no pretrained weights; set model.pretrained: false")
        return SmallCNN(width, norm, depth, pool)
    if name in TORCHVISION:
        return TorchvisionBackbone(name, pretrained)
    raise ValueError(f"model.backbone={name!r}: unknown; allowed: small_cnn, {', '.join(TORCHVISION)}")


def blocks(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's stages from the input on, the unit of `model.freeze_blocks`.

    small_cnn: its conv blocks; resnet: stem, layer1..layer4; mobilenet_v2: `features[0..18]`;
    vgg16 / alexnet: each convolution of `features` with what follows it up to the next one.
    """
    if isinstance(backbone, SmallCNN):
        layers = list(backbone.features)
    else:
        net = backbone.net
        if hasattr(net, "layer1"):
            return [nn.ModuleList([net.conv1, net.bn1]), net.layer1, net.layer2, net.layer3, net.layer4]
        if hasattr(net, "features") and not isinstance(net.features[0], nn.Conv2d):
            return list(net.features)  # mobilenet_v2: blocks already
        layers = list(net.features)
    out: list[list[nn.Module]] = []
    for m in layers:
        if isinstance(m, nn.Conv2d) or not out:
            out.append([])
        out[-1].append(m)
    return [nn.ModuleList(b) for b in out]

"""`hash_only`: the hashing network alone on the original images (the DPSH-style baseline).

Loss: L_sem(u, u) + quant_weight * L_q(u), with class-balanced batches; L_sem's theta on the scale of
train.theta_bits (dsah.losses.theta_scale), as DSaH's.
"""
from __future__ import annotations

import math

import torch

from dsah.distributed import gather
from dsah.losses import pairwise_loss, quantization_loss, similarity, theta_scale
from dsah.methods.base import Method
from dsah.models import HashingNetwork


def param_groups(module: torch.nn.Module, lr: float, backbone_share: float, backbone: str = "backbone"):
    """The trainable parameters: those of `module.<backbone>` at `backbone_share` x lr, the rest at lr.
    One group (all parameters) when the share is 1 and nothing is frozen."""
    params = [p for p in module.parameters() if p.requires_grad]
    if backbone_share == 1.0 and len(params) == len(list(module.parameters())):
        return module.parameters()
    try:
        trunk = {id(p) for p in module.get_submodule(backbone).parameters()}
    except AttributeError:
        trunk = set()
    return [g for g in ({"params": [p for p in params if id(p) in trunk], "lr": lr * backbone_share},
                        {"params": [p for p in params if id(p) not in trunk], "lr": lr}) if g["params"]]


def make_optimizer(params, module: torch.nn.Module, steps: int, lr: float | None = None, backbone: str = "backbone",
                   schedule: str | None = None):
    """Adam with train.weight_decay and the train.lr_schedule (or `schedule`) over `steps` epochs (lr: train.lr
    by default); `module.<backbone>` (a dotted path) learns at train.backbone_lr x lr, frozen parameters not at all."""
    t = params.train
    lr = t.lr if lr is None else lr
    opt = torch.optim.Adam(param_groups(module, lr, t.backbone_lr, backbone), lr=lr, weight_decay=t.weight_decay)
    if (schedule or t.lr_schedule) == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return opt, sched


class HashOnly(Method):
    """One hashing network and one loss on its outputs; the baselines in dsah/methods/ change `loss`
    (and `head`, the network's output map)."""

    name = "hash_only"
    description = "hashing network on the original image (no attention)"
    head = "tanh"  # the hashing network's output: tanh | linear | bn (dsah.models.hashing)

    def __init__(self, params, bits: int, device: torch.device, num_classes: int | None = None):
        super().__init__(params, bits, device, num_classes)
        self.net = HashingNetwork.from_params(self.code_dim, params.model, self.head).to(device)
        self.opt, self.sched = make_optimizer(params, self.trainable(), params.train.epochs, backbone=self.backbone_path)

    backbone_path = "backbone"  # within trainable(): the parameters that learn at train.backbone_lr x lr

    def trainable(self) -> torch.nn.Module:
        """What the optimiser trains: the hashing network (and a method's own layers, e.g. a classifier)."""
        return self.net

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"hashing": self.net}

    def view(self, x: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """The image the hashing network sees."""
        return x

    def theta(self) -> float:
        """c in the semantic loss's theta_ij = c u_i . u_j."""
        return theta_scale(self.bits, self.params.train.theta_bits)

    def loss(self, u: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms on a batch's network outputs `u`; "loss" is the one minimised."""
        sem = pairwise_loss(u, u, similarity(y, y), scale=self.theta())
        quant = quantization_loss(u)
        return {"loss": sem + self.params.train.quant_weight * quant, "semantic": sem, "quantization": quant}

    def train_step(self, x, y, box):
        u = self.parallel("hashing")(self.view(x, box))
        terms = self.loss(gather(u), gather(y))  # the global batch's loss (dsah.distributed; itself in one process)
        self.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.opt.step()
        return {k: v.item() for k, v in terms.items()}

    def end_epoch(self):
        self.sched.step()
        return {"lr": self.opt.param_groups[0]["lr"]}

    def relaxed(self, z: torch.Tensor) -> torch.Tensor:
        """The relaxed codes in (-1, 1)^K of the network's outputs: the outputs of a tanh head, tanh of a
        linear or BatchNorm head's (the same signs: the binary codes)."""
        return z if self.head == "tanh" else torch.tanh(z)

    @torch.no_grad()
    def encode(self, x, box):
        return self.relaxed(self.net(self.view(x, box)))

"""`hash_only`: the hashing network alone on the original images (the DPSH-style baseline).

Loss: L_sem(u, u) + quant_weight * L_q(u), with class-balanced batches.
"""
from __future__ import annotations

import math

import torch

from dsah.losses import pairwise_loss, quantization_loss, similarity
from dsah.methods.base import Method
from dsah.models import HashingNetwork


def param_groups(module: torch.nn.Module, lr: float, backbone_share: float, backbone: str = "backbone"):
    """The trainable parameters: those of `module.<backbone>` at `backbone_share` x lr, the rest at lr.
    One group (all parameters) when the share is 1 and nothing is frozen."""
    params = [p for p in module.parameters() if p.requires_grad]
    if backbone_share == 1.0 and len(params) == len(list(module.parameters())):
        return module.parameters()
    trunk = {id(p) for p in getattr(module, backbone).parameters()} if hasattr(module, backbone) else set()
    return [g for g in ({"params": [p for p in params if id(p) in trunk], "lr": lr * backbone_share},
                        {"params": [p for p in params if id(p) not in trunk], "lr": lr}) if g["params"]]


def make_optimizer(params, module: torch.nn.Module, steps: int, lr: float | None = None, backbone: str = "backbone"):
    """Adam with train.weight_decay and the train.lr_schedule over `steps` epochs (lr: train.lr by default);
    `module.<backbone>` learns at train.backbone_lr x lr, frozen parameters not at all."""
    t = params.train
    lr = t.lr if lr is None else lr
    opt = torch.optim.Adam(param_groups(module, lr, t.backbone_lr, backbone), lr=lr, weight_decay=t.weight_decay)
    if t.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return opt, sched


class HashOnly(Method):
    name = "hash_only"
    description = "hashing network on the original image (no attention)"

    def __init__(self, params, bits: int, device: torch.device):
        super().__init__(params, bits, device)
        self.net = HashingNetwork.from_params(bits, params.model).to(device)
        self.opt, self.sched = make_optimizer(params, self.net, params.train.epochs)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"hashing": self.net}

    def view(self, x: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """The image the hashing network sees."""
        return x

    def train_step(self, x, y, box):
        u = self.net(self.view(x, box))
        sem = pairwise_loss(u, u, similarity(y, y))
        quant = quantization_loss(u)
        loss = sem + self.params.train.quant_weight * quant
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item(), "semantic": sem.item(), "quantization": quant.item()}

    def end_epoch(self):
        self.sched.step()
        return {"lr": self.opt.param_groups[0]["lr"]}

    @torch.no_grad()
    def encode(self, x, box):
        return self.net(self.view(x, box))

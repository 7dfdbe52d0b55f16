"""Fine-tuning controls for pretrained networks: frozen early blocks, BatchNorm policy, calibration.

`model.pretrained_norm` (../shared/models/NOTES.md has why it matters): the weights converted from
TFLite carry BatchNorms that are identities around a folded bias, so re-normalising with batch
statistics in train mode destroys the features (cosine 0.016 to the eval-mode ones).

- `frozen`: the pretrained network's BatchNorm layers stay in eval mode (running statistics); their
  affine weights still learn.
- `calibrated`: before training, each BatchNorm's running statistics are set to the real statistics
  of its input on a few training images, and its affine weights re-parameterised so that the
  eval-mode output is unchanged; then the layers train normally (batch statistics).
- `train`: plain train-mode BatchNorm (right for torchvision's own weights, wrong for folded ones).
"""
from __future__ import annotations

import torch
from torch import nn


def batch_norms(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def freeze(modules: list[nn.Module]) -> None:
    """No gradients for these modules' parameters (they stay in eval mode: see KeepEval)."""
    for m in modules:
        m.requires_grad_(False)


class KeepEval:
    """Mixin for an nn.Module: the modules in `self.keep_eval` stay in eval mode whatever train() says."""

    keep_eval: list[nn.Module]

    def train(self, mode: bool = True):
        super().train(mode)
        for m in getattr(self, "keep_eval", []):
            m.eval()
        return self


@torch.no_grad()
def calibrate(module: nn.Module, x: torch.Tensor, batch_size: int = 32) -> int:
    """Set every BatchNorm's running statistics to those of its input on images `x` (eval-mode pass),
    re-parameterising weight and bias so that the eval-mode output is unchanged. Returns the count."""
    norms = batch_norms(module)
    sums = {bn: [0.0, 0.0, 0] for bn in norms}

    def hook(bn, inputs, _out):
        h = inputs[0].double()
        s = sums[bn]
        s[0] = s[0] + h.sum((0, 2, 3))
        s[1] = s[1] + (h * h).sum((0, 2, 3))
        s[2] += h.numel() // h.shape[1]

    handles = [bn.register_forward_hook(hook) for bn in norms]
    was_training = module.training
    module.eval()
    try:
        for s in range(0, len(x), batch_size):
            module(x[s : s + batch_size])
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    for bn in norms:
        total, squares, n = sums[bn]
        if n == 0:
            continue
        mean1 = total / n
        var1 = (squares / n - mean1 * mean1).clamp_min(0)
        mean0, var0 = bn.running_mean.double(), bn.running_var.double()
        s0, s1 = (var0 + bn.eps).sqrt(), (var1 + bn.eps).sqrt()
        w = bn.weight.double() if bn.affine else torch.ones_like(mean0)
        b = bn.bias.double() if bn.affine else torch.zeros_like(mean0)
        if bn.affine:
            bn.weight.copy_(w * s1 / s0)
            bn.bias.copy_(b + w * (mean1 - mean0) / s0)
        bn.running_mean.copy_(mean1)
        bn.running_var.copy_(var1)
    return len(norms)

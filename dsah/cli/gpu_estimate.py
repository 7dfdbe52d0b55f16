"""An estimate of a profile's GPU time from counted FLOPs: `python -m dsah.cli.gpu_estimate --params FILE`.

Counts the floating-point operations of one optimisation step of each method of the params file
(torch's FlopCounterMode, on the CPU, for a batch of 2 at the profile's image size; pretrained weights
are not needed to count), scales them to the protocol's training set x epochs (plus one encoding pass
over queries and database), and divides by a sustained throughput. The throughput is an assumption,
not a measurement: `--tflops` (default 100 TFLOP/s, about a quarter of an H100/H200's dense TF32/BF16
peak; convolutions of VGG-16 rarely sustain more than half of peak).
"""
from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from dsah import config, paths
from dsah.losses import similarity
from dsah.methods import METHODS

# (training images, query + database images) of each protocol, from its official lists.
SIZES = {"cub200": (5994, 5794 + 5994), "stanford_dogs": (12000, 8580 + 12000), "flowers17": (1020, 340 + 1020),
         "flowers102": (2040, 6149 + 2040), "cifar10": (5000, 1000 + 59000), "nuswide21": (10500, 2100 + 193734)}


def step_flops(params, method: str, bits: int, batch: int = 2) -> tuple[float, float]:
    """(training FLOPs, encoding FLOPs) per image for `method`."""
    raw = params.model_dump(mode="json")
    raw["model"]["pretrained"] = False  # counting needs no weights file
    for section in raw["method"].values():
        if "attention_pretrained" in section:
            section["attention_pretrained"] = False
    p = config.parse(raw)
    m = METHODS[method](p, bits, torch.device("cpu"))
    size = p.data.image_size
    x = torch.randn(batch, 3, size, size)
    y = torch.arange(batch)
    box = torch.ones(batch, 1, size, size)
    with FlopCounterMode(display=False) as train:
        if m.uses_attention:  # step 1 and step 2 on the same batch
            s = similarity(y, y)
            m.hashing_step(x, y, box)
            m.attention_step(x, y, box)
        elif not m.fitted:
            m.train_step(x, y, box)
    m.train(False)
    with FlopCounterMode(display=False) as enc, torch.no_grad():
        m.encode(x, box)
    return train.get_total_flops() / batch, enc.get_total_flops() / batch


def estimate(params, tflops: float) -> list[tuple[str, float]]:
    n_train, n_eval = SIZES[params.data.name]
    rows = []
    for method in params.all_methods:
        tr, en = step_flops(params, method, params.bits[0])
        total = tr * n_train * params.train.epochs + en * n_eval
        rows.append((method, total / (tflops * 1e12)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.gpu_estimate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--tflops", type=float, default=100.0, help="assumed sustained TFLOP/s")
    a = ap.parse_args(argv)
    params = config.load(paths.resolve(a.params, paths.repo_root()))
    if params.data.name not in SIZES:
        raise SystemExit(f"no protocol sizes for data.name={params.data.name!r}; known: {', '.join(SIZES)}")
    rows = estimate(params, a.tflops)
    per_bits = sum(s for _, s in rows)
    print(f"{params.profile}: {params.data.name}, {params.data.image_size} px, {params.train.epochs} epochs, "
          f"assumed {a.tflops:g} TFLOP/s sustained")
    for method, seconds in rows:
        print(f"  {method:<12} {seconds / 60:8.1f} min per code length")
    print(f"  all methods x {len(params.bits)} code lengths: {per_bits * len(params.bits) / 3600:.1f} GPU hours")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

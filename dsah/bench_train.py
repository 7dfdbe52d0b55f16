"""What a training step costs, per method and memory format: `python -m dsah.bench_train`.

Times one optimisation step of `hash_only` and the two DSaH steps on a random batch shaped like the
default pipeline's (params.yaml: batch P x K, image size, networks), with NCHW and NHWC
(channels_last) tensors, in one process, and prints milliseconds and ratios against `hash_only`
in NCHW — ratios, because absolute times on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import time

import torch

from dsah import config, paths
from dsah.losses import similarity
from dsah.methods.dsah import Dsah
from dsah.methods.hash_only import HashOnly


def _time(fn, repeats: int) -> float:
    for _ in range(2):  # warm-up: allocator, kernels
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def measure(params, bits: int = 12, repeats: int = 20) -> list[tuple[str, float]]:
    t = params.train
    n, size = t.classes_per_batch * t.images_per_class, params.data.image_size
    y = torch.arange(n) // t.images_per_class
    s = similarity(y, y)
    box = torch.ones(n, 1, size, size)
    rows = []
    for layout, fmt in (("NCHW", torch.contiguous_format), ("NHWC", torch.channels_last)):
        torch.manual_seed(0)
        x = torch.randn(n, 3, size, size).contiguous(memory_format=fmt)
        base = HashOnly(params, bits, torch.device("cpu"))
        dsah = Dsah(params, bits, torch.device("cpu"))
        for m in (base.net, dsah.net, dsah.attention):
            m.to(memory_format=fmt)
        rows.append((f"hash_only step ({layout})", _time(lambda: base.train_step(x, y, box), repeats)))
        rows.append((f"dsah step 1: hashing ({layout})", _time(lambda: dsah.hashing_step(x, s, box), repeats)))
        rows.append((f"dsah step 2: attention ({layout})", _time(lambda: dsah.attention_step(x, s, box), repeats)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.bench_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--bits", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    params = config.load(paths.resolve(args.params, paths.repo_root()))
    rows = measure(params, args.bits, args.repeats)
    ref = rows[0][1]
    print(f"{'step':<34} {'ms':>8} {'x hash_only NCHW':>17}  (torch threads: {torch.get_num_threads()})")
    for name, ms in rows:
        print(f"{name:<34} {ms:8.1f} {ms / ref:17.2f}")
    by = dict(rows)
    for layout in ("NCHW", "NHWC"):
        full = by[f"dsah step 1: hashing ({layout})"] + by[f"dsah step 2: attention ({layout})"]
        print(f"dsah batch (step 1 + step 2), {layout}: {full / by[f'hash_only step ({layout})']:.2f} x hash_only {layout}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

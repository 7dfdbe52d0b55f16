"""What a training step costs, per method and memory format, and whether the loader keeps up:
`python -m dsah.cli.bench_train`.

Times one optimisation step of `hash_only` and the two DSaH steps on a random batch shaped like the
default pipeline's (params.yaml: batch P x K, image size, networks), with NCHW and NHWC
(channels_last) tensors, in one process, and prints milliseconds and ratios against `hash_only`
in NCHW — ratios, because absolute times on a shared machine are noisy.

`--loader` (with `--size`, e.g. `--params profiles/real_cpu.yaml --size 224 --loader`) also measures
the input pipeline: images/s of one data-loader worker (one thread, as the workers run) producing
augmented batches (`train.augment`, crops from a memory-mapped store of `data.store_size`, or
size / 0.875) beside the images/s of a `hash_only` step and of a DSaH batch (step 1 + step 2,
channels_last), so the ratio says how many workers one training process needs. `--json` writes it all.
"""
from __future__ import annotations

import argparse
import time

import torch

from dsah import config, paths
from dsah.losses import similarity
from dsah.methods import METHODS


def _time(fn, repeats: int) -> float:
    for _ in range(2):  # warm-up: allocator, kernels
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def pair(params, bits: int, method: str = "dsah"):
    """(the reference method, the attention method) for timing, on the CPU."""
    att = METHODS[method](params, bits, torch.device("cpu"))
    return METHODS[att.reference](params, bits, torch.device("cpu")), att


def measure(params, bits: int = 12, repeats: int = 20, method: str = "dsah") -> list[tuple[str, float]]:
    t = params.train
    n, size = t.classes_per_batch * t.images_per_class, params.data.image_size
    y = torch.arange(n) // t.images_per_class
    s = similarity(y, y)
    box = torch.ones(n, 1, size, size)
    rows = []
    for layout, fmt in (("NCHW", torch.contiguous_format), ("NHWC", torch.channels_last)):
        torch.manual_seed(0)
        x = torch.randn(n, 3, size, size).contiguous(memory_format=fmt)
        base, att = pair(params, bits, method)
        for m in (*base.modules().values(), *att.modules().values()):
            m.to(memory_format=fmt)
        rows.append((f"{base.name} step ({layout})", _time(lambda: base.train_step(x, y, box), repeats)))
        rows.append((f"{method} step 1: hashing ({layout})", _time(lambda: att.hashing_step(x, y, box), repeats)))
        rows.append((f"{method} step 2: attention ({layout})", _time(lambda: att.attention_step(x, y, box), repeats)))
    return rows


def loader_rate(params, images: int = 512, batches: int = 8) -> float:
    """Images/s of one loader worker: augmented batches from a memory-mapped uint8 store, one thread."""
    import tempfile

    import numpy as np

    from dsah.data.batches import BalancedBatches
    from dsah.data.loader import SeededBatches, TrainSet
    from dsah.data.prepared import Split

    t, size = params.train, params.data.image_size
    full = params.data.store_size or round(size / 0.875)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = np.lib.format.open_memmap(f"{tmp}/x.npy", mode="w+", dtype=np.uint8, shape=(images, 3, full, full))
        store[:] = rng.integers(0, 256, store.shape, dtype=np.uint8)
        store.flush()
        store = np.load(f"{tmp}/x.npy", mmap_mode="r")
        labels = np.arange(images) % max(t.classes_per_batch, 2)
        o = (full - size) // 2
        boxes = np.tile(np.array([[10.0, 10.0, full - 20.0, full - 20.0]], dtype=np.float32), (images, 1))
        split = Split(store[:, :, o : o + size, o : o + size], labels, boxes - [o, o, 0, 0],
                      np.zeros((images, 15, 3), dtype=np.float32), np.arange(images), store, o)
        data = TrainSet(split, t.augment, size, t.crop_scale)
        keys = SeededBatches(BalancedBatches(labels, t.classes_per_batch, t.images_per_class, 0), 0)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            it = iter(keys)
            data.__getitems__(next(it))  # warm-up
            n, start = 0, time.perf_counter()
            for _ in range(batches):
                n += len(data.__getitems__(next(it)).labels)
            return n / (time.perf_counter() - start)
        finally:
            torch.set_num_threads(threads)


def step_rates(params, bits: int, repeats: int) -> dict[str, float]:
    """Images/s of a hash_only step and of a DSaH batch (step 1 + step 2), channels_last."""
    t, size = params.train, params.data.image_size
    n = t.classes_per_batch * t.images_per_class
    y = torch.arange(n) // t.images_per_class
    s = similarity(y, y)
    box = torch.ones(n, 1, size, size)
    x = torch.randn(n, 3, size, size).contiguous(memory_format=torch.channels_last)
    base, dsah = pair(params, bits)
    for m in (*base.modules().values(), *dsah.modules().values()):
        m.to(memory_format=torch.channels_last)
    h = _time(lambda: base.train_step(x, y, box), repeats)
    d = _time(lambda: (dsah.hashing_step(x, y, box), dsah.attention_step(x, y, box)), repeats)
    return {"hash_only_step_images_per_s": n / h * 1000, "dsah_batch_images_per_s": n / d * 1000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.bench_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--bits", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--size", type=int, help="image size (default: data.image_size of --params)")
    ap.add_argument("--loader", action="store_true", help="also: loader images/s per worker vs step images/s")
    ap.add_argument("--random-weights", action="store_true",
                    help="model.pretrained: false (timing needs no weights file)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    params = config.load(paths.resolve(args.params, paths.repo_root()))
    raw = params.model_dump()
    if args.size:
        raw["data"]["image_size"] = args.size
        if raw["data"]["store_size"] is not None and raw["data"]["store_size"] < args.size:
            raw["data"]["store_size"] = round(args.size / 0.875)
    if args.random_weights:
        raw["model"]["pretrained"] = False
        for section in raw["method"].values():  # attention trunks too
            if "attention_pretrained" in section:
                section["attention_pretrained"] = False
    params = config.parse(raw, args.params)
    if args.loader:
        return _loader_report(params, args)
    rows = measure(params, args.bits, args.repeats)
    ref = rows[0][1]
    print(f"{'step':<34} {'ms':>8} {'x hash_only NCHW':>17}  (torch threads: {torch.get_num_threads()})")
    for name, ms in rows:
        print(f"{name:<34} {ms:8.1f} {ms / ref:17.2f}")
    by = dict(rows)
    for layout in ("NCHW", "NHWC"):
        full = by[f"dsah step 1: hashing ({layout})"] + by[f"dsah step 2: attention ({layout})"]
        print(f"dsah batch (step 1 + step 2), {layout}: {full / by[f'hash_only step ({layout})']:.2f} x hash_only {layout}")
    if args.json:
        from dsah.io import write_json

        write_json(args.json, {"ms": by, "threads": torch.get_num_threads()})
    return 0


def _loader_report(params, args) -> int:
    size, t = params.data.image_size, params.train
    worker = loader_rate(params)
    steps = step_rates(params, args.bits, args.repeats)
    out = {"image_size": size, "store_size": params.data.store_size or round(size / 0.875), "augment": t.augment,
           "backbone": params.model.backbone, "attention": params.attention.attention, "batch": t.classes_per_batch *
           t.images_per_class, "torch_threads": torch.get_num_threads(), "loader_images_per_s_per_worker": worker,
           **steps}
    for k in ("hash_only_step_images_per_s", "dsah_batch_images_per_s"):
        out[k.replace("images_per_s", "workers_needed")] = steps[k] / worker
    print(f"{size}-px {t.augment} batches of {out['batch']} (store {out['store_size']} px), {params.model.backbone} "
          f"hashing / {params.attention.attention} attention, torch threads {out['torch_threads']}:")
    print(f"{'':<34} {'images/s':>9} {'loader workers it needs':>24}")
    print(f"{'loader, one worker (1 thread)':<34} {worker:9.0f}")
    print(f"{'hash_only step':<34} {steps['hash_only_step_images_per_s']:9.1f} {out['hash_only_step_workers_needed']:24.3f}")
    print(f"{'dsah batch (step 1 + step 2)':<34} {steps['dsah_batch_images_per_s']:9.1f} {out['dsah_batch_workers_needed']:24.3f}")
    if args.json:
        from dsah.io import write_json

        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

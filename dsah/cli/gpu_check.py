"""What a training step costs on a GPU: `python -m dsah.cli.gpu_check [--json FILE]`.

Trains `hash_only` and `dsah` for a fixed number of steps on random 224-px batches with torchvision
backbones (random weights: ResNet-18 hashing network, ResNet-18 attention trunk by default), with
and without bf16 autocast (`train.amp`), and prints images/s, peak GPU memory and the DSaH /
`hash_only` step-time ratio as a table (and JSON). On a CPU it runs too (`--device cpu --size 64
--backbone small_cnn --attention small --steps 2` is the test's setting), without memory figures.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from dsah import config, paths
from dsah.methods import METHODS
from dsah.train import resolve_device, use_amp


def _params(a, amp: str):
    raw = config.load(paths.repo_root() / "profiles" / "fast.yaml").model_dump(mode="json")
    raw["data"].update(image_size=a.size)
    raw["model"].update(backbone=a.backbone, pretrained=False, freeze_blocks=0, norm="batch")
    for section in METHODS[a.method].extra_sections:  # the attention section: the trunk to time, random weights
        raw[section].update(attention=a.attention, attention_pretrained=False, attention_freeze_blocks=0)
    raw["train"].update(device=a.device, amp=amp, classes_per_batch=a.classes, images_per_class=a.per_class, epochs=1)
    return config.parse(raw)


def measure(a, method: str, amp: str) -> dict:
    params = _params(a, amp)
    device = resolve_device(a.device)
    torch.manual_seed(0)
    m = METHODS[method](params, a.bits, device, num_classes=a.classes)
    for module in m.modules().values():
        module.to(memory_format=torch.channels_last)
    n = a.classes * a.per_class
    x = torch.randn(n, 3, a.size, a.size, device=device).contiguous(memory_format=torch.channels_last)
    y = (torch.arange(n) // a.per_class).to(device)
    box = torch.ones(n, 1, a.size, a.size, device=device)
    on = use_amp(amp, device)
    cuda = device.type == "cuda"

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on):
            return m.train_step(x, y, box)

    for _ in range(a.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(a.steps):
        out = step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / a.steps
    return {"method": method, "amp": on, "step_ms": 1000 * seconds, "images_per_s": n / seconds,
            "peak_mem_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            "loss_finite": all(torch.isfinite(torch.tensor(v)) for v in out.values())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.gpu_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--method", default="dsah", help="an attention method, timed against its reference")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--attention", default="resnet18")
    ap.add_argument("--bits", type=int, default=48)
    ap.add_argument("--classes", type=int, default=8, help="classes per batch (P)")
    ap.add_argument("--per-class", type=int, default=4, help="images per class (K)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", help="write the rows to this file")
    a = ap.parse_args(argv)
    device = resolve_device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    reference = METHODS[a.method].reference
    rows = [measure(a, m, amp) for amp in ("off", "on") for m in (reference, a.method)]
    print(f"{name}: {a.size} px, batch {a.classes}x{a.per_class}, {a.bits} bits, {a.backbone} / {a.attention} "
          f"(random weights), {a.steps} steps after {a.warmup} warm-up, channels_last")
    print(f"{'method':<10} {'amp':<5} {'step ms':>9} {'images/s':>10} {'peak MiB':>9}  {a.method}/{reference}")
    for r in rows:
        base = next(b for b in rows if b["method"] == reference and b["amp"] == r["amp"])
        ratio = f"{r['step_ms'] / base['step_ms']:.2f}" if r["method"] == a.method else ""
        mem = f"{r['peak_mem_mib']:.0f}" if r["peak_mem_mib"] is not None else "-"
        print(f"{r['method']:<10} {str(r['amp']):<5} {r['step_ms']:>9.1f} {r['images_per_s']:>10.1f} {mem:>9}  {ratio}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": name, "args": vars(a), "rows": rows}, f, indent=2)
    return 0 if all(r["loss_finite"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

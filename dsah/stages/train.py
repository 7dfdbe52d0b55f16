"""Train stage: one (method, bits) run; writes a checkpoint and the per-epoch history atomically."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import torch

from dsah import config, distributed, provenance
from dsah.data import prepared
from dsah.io import atomic_path, write_text
from dsah.paths import Layout
from dsah.train import TrainResult, train


def history_csv(history: list[dict]) -> str:
    keys = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


def run(params, layout: Layout, method: str, bits: int, seed: int | None = None) -> TrainResult:
    """Train `method` at `bits` with training seed `seed` (default: train.seed) and write the run."""
    config.check_run(method, bits)
    seed = params.train.seed if seed is None else seed
    params = params.for_seed(seed)
    if params.train.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return launch(params, layout, method, bits, seed)
    data = prepared.load(layout.tensors)
    result = train(params, method, bits, data, resume=layout.resume(method, bits, seed),
                   features=features_for(params, layout, method, bits, seed))
    if distributed.world()[0] != 0:
        return result  # rank 0 writes the run
    ckpt = {
        "method": method,
        "bits": bits,
        "seed": seed,
        "state": result.method.state_dict(),
        "history": result.history,
        "train_seconds": result.seconds,
        "map_snapshots": {"probe": result.probe, "epochs": sorted(result.maps),
                          "maps": [torch.from_numpy(result.maps[e]) for e in sorted(result.maps)]},
        "dataset": data.meta["dataset"],
        "num_classes": data.num_classes,
        "provenance": provenance.record(layout.root, params),
    }
    with atomic_path(layout.checkpoint(method, bits, seed)) as tmp:
        torch.save(ckpt, tmp)
    write_text(layout.history(method, bits, seed), history_csv(result.history))
    return result


def features_for(params, layout: Layout, method: str, bits: int, seed: int):
    """For a method fitted on a trained network's features (without model.pretrained): that trained run
    (`features_from`, same code length and seed), from its checkpoint; None otherwise."""
    from dsah import methods

    cls = methods.get(method)
    if not cls.fitted or params.model.pretrained:
        return None
    return load_method(params, layout, cls.features_from, bits, "cpu", seed)[0]


def launch(params, layout: Layout, method: str, bits: int, seed: int) -> TrainResult:
    """Train in train.nproc processes: `torchrun --nproc-per-node N -m dsah.stages.train ...` (one node,
    or the nodes that DSAH_TORCHRUN_ARGS describes); rank 0 writes the run, read back here."""
    import shlex
    import subprocess
    import sys
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "params.yaml"
        pfile.write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
        extra = shlex.split(os.environ.get("DSAH_TORCHRUN_ARGS", "")) or ["--standalone"]
        cmd = [sys.executable, "-m", "torch.distributed.run", *extra, "--nproc-per-node", str(params.train.nproc),
               "-m", "dsah.stages.train", str(pfile), str(layout.root), method, str(bits), str(seed)]
        print(f"[{method}-{bits}] launching: {shlex.join(cmd[1:])}", flush=True)
        done = subprocess.run(cmd)
    if done.returncode:
        raise RuntimeError(f"[{method}-{bits}] distributed training ({params.train.nproc} processes) failed with "
                           f"exit code {done.returncode}; its ranks' messages are above")
    m, ckpt = load_method(params, layout, method, bits, "cpu", seed)
    snaps = ckpt["map_snapshots"]
    return TrainResult(m, ckpt["history"], ckpt["train_seconds"], snaps["probe"],
                       {e: t.numpy() for e, t in zip(snaps["epochs"], snaps["maps"])})


def finish(layout: Layout, method: str, bits: list[int], seed: int) -> None:
    """Remove the resume checkpoints of a (method, seed) once every code length of its stage is written
    (kept until then: a stage killed at its second length resumes its first from the finished state)."""
    for b in bits:
        layout.resume(method, b, seed).unlink(missing_ok=True)


def load_method(params, layout: Layout, method: str, bits: int, device: str = "auto", seed: int = 0):
    """Rebuild a trained method from its checkpoint: the parameters it was trained with, except the
    evaluation-time section `eval` (e.g. `eval.codes`, which branch encodes), taken from `params`."""
    from dsah import methods
    from dsah.train import resolve_device

    path = layout.checkpoint(method, bits, seed)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint; run the train stage for {method}-{bits} "
                                f"(seed {seed}) first")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    raw = config.upgrade(ckpt["provenance"]["params"])  # a checkpoint of earlier code: today's keys
    trained_params = config.parse(raw, f"{path} (parameters)").model_copy(update={"eval": params.eval})
    m = methods.get(method)(trained_params, bits, resolve_device(device), num_classes=ckpt.get("num_classes"))
    m.load_state_dict(ckpt["state"])
    m.train(False)
    return m, ckpt


def probe_images(layout: Layout, probe: list[int]):
    """The training images whose maps were kept during training (uint8, N x 3 x S x S)."""
    return prepared.load(layout.tensors).train.images[probe]


if __name__ == "__main__":  # one rank of `launch`: PARAMS_FILE WORKDIR METHOD BITS SEED
    import sys

    _pfile, _root, _method, _bits, _seed = sys.argv[1:6]
    run(config.load(_pfile), Layout(Path(_root)), _method, int(_bits), int(_seed))

"""Mixed precision: bf16 autocast trains with float32 losses; on the CPU `auto` is the float32 path,
unchanged; the GPU check script runs end to end (here on the CPU, at a toy size)."""
import json

import numpy as np
import torch

from dsah.cli import gpu_check
from dsah.models import HashingNetwork
from dsah.retrieval import binary_codes
from dsah.train import train, use_amp


def _with(params, **t):
    return params.model_copy(update={"train": params.train.model_copy(update=t)})


def test_auto_is_off_on_cpu_and_leaves_the_codes_unchanged(tiny_data):
    data, params = tiny_data
    assert not use_amp("auto", torch.device("cpu")) and use_amp("auto", torch.device("cuda"))
    assert use_amp("on", torch.device("cpu")) and not use_amp("off", torch.device("cuda"))
    codes = [binary_codes(train(_with(params, amp=a), "dsah", 12, data, log=lambda s: None).method, data.test, data.meta)
             for a in ("auto", "off")]
    assert np.array_equal(codes[0], codes[1])


def test_bf16_autocast_trains_with_float32_outputs(tiny_data):
    data, params = tiny_data
    net = HashingNetwork.from_params(12, params.model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        u = net(torch.randn(4, 3, 32, 32))
    assert u.dtype == torch.float32  # the codes, and every loss computed from them
    lines = []
    for method in ("hash_only", "dsah", "csq", "dtq"):
        res = train(_with(params, amp="on"), method, 12, data, log=lines.append)
        assert all(np.isfinite(v) for row in res.history for v in row.values())
    assert any("mixed precision: bf16 autocast on cpu" in s for s in lines)


def test_gpu_check_runs_and_writes_its_table(tmp_path, capsys):
    out = tmp_path / "g.json"
    assert gpu_check.main(["--device", "cpu", "--size", "32", "--backbone", "small_cnn", "--attention", "small",
                           "--steps", "1", "--warmup", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["method"], r["amp"]) for r in rows] == [("hash_only", False), ("dsah", False), ("hash_only", True), ("dsah", True)]
    assert "dsah/hash_only" in capsys.readouterr().out

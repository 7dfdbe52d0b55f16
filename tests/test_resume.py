"""Faults: a run interrupted after an epoch resumes to the same weights and codes; a NaN loss stops the
run naming the term, epoch and step; the same seed gives the same codes with 1 or 2 loader workers."""
import contextlib
import os
import signal
import subprocess
import sys

import numpy as np
import psutil
import pytest
import torch
import yaml

from dsah import config, methods
from dsah.retrieval import binary_codes
from dsah.train import NonFiniteLoss, train
from tests.conftest import ROOT

# every method trained by epochs; of the composed variants (the attention plug-in over each base, the
# oracles) one stands for all: they carry no state of their own beyond their parts'
DEEP = [n for n, c in methods.METHODS.items() if not c.fitted and (c.base is None or n == "dsah_hashnet")]


def _with(params, **train_args):
    return params.model_copy(update={"train": params.train.model_copy(update=train_args)})


class Stop(Exception):
    pass


def _stop_after(epoch: int):
    def log(line: str):
        if f"epoch {epoch}/" in line:  # the checkpoint of `epoch` is written before its line is logged
            raise Stop
    return log


def _equal_states(a: dict, b: dict) -> bool:
    return all(torch.equal(a[m][k], b[m][k]) for m in a for k in a[m])


@pytest.mark.parametrize("name", DEEP)
def test_interrupted_run_resumes_to_identical_weights(tiny_data, tmp_path, name):
    data, params = tiny_data
    params = _with(params, epochs=3)
    quiet = lambda s: None  # noqa: E731
    whole = train(params, name, 12, data, log=quiet)
    resume = tmp_path / "run.pt"
    with pytest.raises(Stop):  # stopped at epoch 1's line, after its checkpoint
        train(params, name, 12, data, log=_stop_after(1), resume=resume)
    assert torch.load(resume, weights_only=False)["epoch"] == 1
    said = []
    again = train(params, name, 12, data, log=said.append, resume=resume)
    assert any("resuming after epoch 1" in s for s in said)
    assert [r["epoch"] for r in again.history] == [1, 2, 3]
    assert _equal_states(whole.method.state_dict(), again.method.state_dict())
    assert np.array_equal(binary_codes(whole.method, data.test, data.meta),
                          binary_codes(again.method, data.test, data.meta))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in whole.history] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in again.history]


def test_resume_file_of_other_parameters_is_ignored(tiny_data, tmp_path):
    data, params = tiny_data
    resume = tmp_path / "run.pt"
    with pytest.raises(Stop):
        train(params, "hash_only", 12, data, log=_stop_after(1), resume=resume)
    said = []
    train(_with(params, lr=params.train.lr * 2), "hash_only", 12, data, log=said.append, resume=resume)
    assert any("made with other parameters, data or code" in s for s in said)
    assert not any("resuming" in s for s in said)


def test_nan_loss_stops_naming_term_epoch_and_step(tiny_data, tmp_path, monkeypatch):
    data, params = tiny_data
    cls = methods.get("hash_only")
    real, calls = cls.train_step, {"n": 0}
    per_epoch = None

    def step(self, x, y, box):
        out = real(self, x, y, box)
        calls["n"] += 1
        if calls["n"] == per_epoch + 3:  # epoch 2, step 3
            out = {**out, "quantization": float("nan")}
        return out

    lines = []
    train(params, "hash_only", 12, data, log=lines.append)
    per_epoch = int(lines[0].split(" batches of ")[0].rsplit(", ", 1)[1])
    monkeypatch.setattr(cls, "train_step", step)
    resume = tmp_path / "run.pt"
    with pytest.raises(NonFiniteLoss, match=r"\[hash_only-12\] epoch 2, step 3: loss term 'quantization' = nan "
                                            r".*run.pt keeps epoch 1"):
        train(params, "hash_only", 12, data, log=lambda s: None, resume=resume)
    assert torch.load(resume, weights_only=False)["epoch"] == 1


@pytest.mark.slow  # worker processes
def test_same_codes_with_1_and_2_loader_workers(tiny_data):
    data, params = tiny_data
    codes = [binary_codes(train(_with(params, augment="crop_flip", workers=w), "dsah", 12, data,
                                log=lambda s: None).method, data.test, data.meta) for w in (0, 1, 2)]
    assert np.array_equal(codes[0], codes[1]) and np.array_equal(codes[1], codes[2])


def _stage(workdir, out, params_file):
    """The train stage's own command (dvc.yaml), in the scratch `workdir`, one code length."""
    return [sys.executable, "-m", "dsah.cli.notebook", "--log-output", "--no-progress-bar", "--kernel", "python3",
            "notebooks/02_train.ipynb", str(out), "-p", "params_file", str(params_file),
            "-p", "workdir", str(workdir), "-p", "method", "dsah", "-p", "bits", "12"]


def _checkpoint(workdir):
    return torch.load(workdir / "runs" / "dsah-s0" / "12" / "checkpoint.pt", weights_only=True)


@pytest.mark.slow  # papermill kernels, killed and run again
def test_stage_killed_after_an_epoch_resumes_to_identical_codes(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    raw = config.read(ROOT / "profiles" / "fast.yaml")
    raw["train"]["epochs"] = 5  # killed after the first: four epochs of margin for the signal to land
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(raw))
    subprocess.run(_stage(ref, tmp_path / "ref.ipynb", params_file), cwd=ROOT, check=True, capture_output=True,
                   timeout=600)
    proc = subprocess.Popen(_stage(killed, tmp_path / "k.ipynb", params_file), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in proc.stdout:  # papermill streams the cell output as it comes
        if "[dsah-12] epoch 1/" in line:
            # the notebook runner and its kernel, mid-run: jupyter starts the kernel in a session of its own,
            # so it is killed by pid (left alone it would train on for up to a second, its parent poll)
            kernel = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)
            for child in kernel:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (killed / ".resume" / "dsah-12-s0.pt").is_file() and not (killed / "runs" / "dsah-s0" / "12").exists()
    again = subprocess.run(_stage(killed, tmp_path / "k2.ipynb", params_file), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming after epoch 1" in again.stdout + again.stderr
    a, b = _checkpoint(ref), _checkpoint(killed)
    assert _equal_states(a["state"], b["state"])
    assert not (killed / ".resume" / "dsah-12-s0.pt").exists()  # removed once the stage finished

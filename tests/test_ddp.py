"""DistributedDataParallel: 2 processes (gloo, CPU) train as 1 process on the same global batch.

Tolerance: parameters agree to 1e-5 (absolute) after the fast profile's 10 steps. The two runs do the
same arithmetic except the order of floating-point sums: DDP averages each gradient over the ranks (a
sum of per-rank parts), one process sums the same terms in one pass; float32 rounding (~1e-7 relative
per operation) compounds over the Adam steps to ~1e-6. GroupNorm: BatchNorm statistics of a rank's
half batch would differ from the whole batch's by design (dsah/distributed.py).
"""
import pytest
import torch

from dsah import config
from dsah.data import prepared
from dsah.paths import Layout
from dsah.retrieval import binary_codes
from dsah.stages import prepare
from dsah.stages import train as train_stage
from tests.conftest import ROOT


def _params(nproc):
    raw = config.load(ROOT / "profiles" / "fast.yaml").model_dump(mode="json")
    raw["model"]["norm"] = "group"
    raw["attention"]["attention_norm"] = "group"
    raw["train"].update(nproc=nproc, augment="shift")  # shifts drawn for the global batch: equal too
    return config.parse(raw)


pytestmark = pytest.mark.slow  # torchrun launches


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    out = {}
    for n in (1, 2):
        layout = Layout(tmp_path_factory.mktemp(f"ddp{n}"))
        prepare.run(_params(n), layout, log=lambda s: None)
        out[n] = layout
    return out


@pytest.mark.parametrize("method", ["hash_only", "dsah", "dtq"])
def test_two_gloo_processes_train_like_one(layouts, method, capfd):
    results = {n: train_stage.run(_params(n), layouts[n], method, 12, 0) for n in (1, 2)}
    assert "launching: -m torch.distributed.run --standalone --nproc-per-node 2" in capfd.readouterr().out
    one, two = results[1].method.state_dict(), results[2].method.state_dict()
    for module in one:
        for k, v in one[module].items():
            if v.is_floating_point():
                assert torch.allclose(v, two[module][k], atol=1e-5, rtol=0), (module, k, (v - two[module][k]).abs().max())
    data = prepared.load(layouts[1].tensors)
    a, b = (binary_codes(results[n].method, data.test, data.meta) for n in (1, 2))
    assert (a == b).mean() > 0.99  # a code bit whose value is within 1e-5 of 0 may flip
    assert [r["loss"] for r in results[1].history] == pytest.approx([r["loss"] for r in results[2].history], abs=1e-5)


def test_classes_per_batch_must_divide(layouts, monkeypatch):
    import dsah.data.loader as loader
    from dsah.data import prepared

    raw = _params(1).model_dump(mode="json")
    raw["train"]["classes_per_batch"] = 3
    monkeypatch.setattr(loader, "world", lambda: (0, 2))  # what rank 0 of 2 sees
    with pytest.raises(ValueError, match=r"train.classes_per_batch = 3 .* multiple of the 2 training processes"):
        loader.train_loader(prepared.load(layouts[1].tensors).train, config.parse(raw), torch.device("cpu"))

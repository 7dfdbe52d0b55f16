"""The real-image regime end to end on ../shared/data/flowers12 (skipped where it or the TFLite file is absent):
weights converted from TFLite, `profiles/real_cpu.yaml` shrunk to seconds (64 px, 1 epoch, 2 classes per
batch), prepare -> train (the profile's recipe, pretrained mobilenet_v2 with frozen blocks) -> evaluate, for
`hash_only` and `dsah` with the pretrained attention trunk."""
import numpy as np
import pytest
import torch

from dsah import config
from dsah.paths import Layout
from dsah.stages import evaluate, prepare
from dsah.stages import train as train_stage
from tests.conftest import ROOT

FLOWERS = ROOT.parent / "shared" / "data" / "flowers12"
MODEL = ROOT.parent / "shared" / "models" / "mobilenet_v2_1.0_224_quant.tflite"
pytestmark = [pytest.mark.skipif(not (FLOWERS.is_dir() and MODEL.is_file()), reason="../shared data or model absent"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    pytest.importorskip("tflite")
    from dsah.models import import_tflite

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.pth"
    import_tflite.save(*import_tflite.convert(MODEL), path)
    return path


def test_real_cpu_profile_on_flowers12(tmp_path, weights, monkeypatch):
    monkeypatch.setenv("DSAH_WEIGHTS_MOBILENET_V2", str(weights))
    raw = config.read(ROOT / "profiles" / "real_cpu.yaml")
    raw["data"].update(root=str(FLOWERS), image_size=64, store_size=73)
    raw["train"].update(epochs=1, classes_per_batch=12, images_per_class=2)
    raw["bits"] = [12]
    params = config.parse(raw)
    layout = Layout(tmp_path / "work")
    prep = prepare.run(params, layout, log=lambda s: None)
    assert prep.meta["image_size"] == 64 and prep.meta["store_size"] == 73
    assert prep.train.images.shape == (720, 3, 64, 64) and prep.train.stored.shape == (720, 3, 73, 73)
    assert np.array_equal(prep.test.images[0], prep.test.stored[0][:, 4:68, 4:68])  # the centre crop
    for method in ("hash_only", "dsah"):
        res = train_stage.run(params, layout, method, 12)
        assert np.isfinite(res.history[-1]["loss"])
        row = evaluate.run(params, layout, method, 12, prep)
        assert row["num_queries"] == 240 and row["num_database"] == 720
        # pretrained features at 64 px after one epoch; DSaH's attention starts from a uniform map
        assert row["map_all"] > (1.5 if method == "hash_only" else 1.1) * row["chance_map"], row
    m, _ = train_stage.load_method(params, layout, "dsah", 12, "cpu")
    assert m.input_stats(prep.meta) == ([0.5] * 3, [0.5] * 3)  # the converted weights' normalisation
    m.train(True)  # the frozen blocks stay in eval mode
    assert not m.net.backbone.net.features[0].training and not m.attention.trunk[0].training
    with torch.no_grad():
        assert m.saliency(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)

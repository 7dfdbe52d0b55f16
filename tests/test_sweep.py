"""`python -m dsah.cli.sweep`: overrides, errors, and one real run on the fast profile."""
import pytest

from dsah import config
from dsah.cli import sweep
from tests.conftest import ROOT


def test_overrides_parse_values_as_yaml():
    raw = config.apply_overrides({"train": {"epochs": 3}}, ["train.epochs=10", "attention.margin=2", "eval.codes=fused"])
    assert raw == {"train": {"epochs": 10}, "attention": {"margin": 2}, "eval": {"codes": "fused"}}


def test_overrides_in_the_keys_of_earlier_records_are_upgraded():
    raw = config.apply_overrides({"attention": {"margin": 4.0, "alternate": "batch"}},
                                 ["dsah.margin=2", "baselines.csq_lambda=0.1"])
    assert config.upgrade(raw) == {"attention": {"margin": 2, "alternate": "batch"}, "method": {"csq": {"quant_weight": 0.1}}}
    with pytest.raises(config.ConfigError, match="the dsah: section is now attention:"):
        config.parse({"dsah": {"margin": 2.0}})


def test_bad_override_and_bad_value(capsys):
    with pytest.raises(config.ConfigError, match="expected section.key=value"):
        config.apply_overrides({}, ["train.epochs"])
    assert sweep.main(["dsah", "12", "attention.margin=-1", "--params", str(ROOT / "profiles" / "fast.yaml")]) == 2
    assert "attention.margin = -1.0: Input should be greater than or equal to 0" in capsys.readouterr().err


def test_a_run_on_the_fast_profile(tmp_path, capsys, tiny_synthetic):
    from dsah.data import cub, prepared
    from dsah.paths import Layout

    root, params = tiny_synthetic
    layout = Layout(tmp_path)
    layout.tensors.parent.mkdir(parents=True)
    prepared.save(prepared.from_records(cub.load(root), params.data.image_size, "synthetic"), layout.tensors)
    record = tmp_path / "runs.jsonl"
    code = sweep.main(["dsah", "12", "train.epochs=1", "--params", str(ROOT / "profiles" / "fast.yaml"),
                       "--workdir", str(tmp_path), "--json", str(record)])
    out = capsys.readouterr().out
    assert code == 0 and "RESULT dsah-12 train.epochs=1: test mAP@all" in out and "pointing game" in out
    import json

    row = json.loads(record.read_text())
    assert row["method"] == "dsah" and row["overrides"] == ["train.epochs=1"] and row["split"] == "test"
    assert 0 <= row["map_tie_aware"] <= 1 and "pointing_game" in row
    assert len(row["history"]) == 1 and 0 <= row["history"][0]["map_mean"] <= 1  # the map statistics per epoch
    code = sweep.main(["hash_only", "12", "train.epochs=1", "--params", str(ROOT / "profiles" / "fast.yaml"),
                       "--workdir", str(tmp_path), "--holdout", "0.25"])
    assert code == 0 and "validation (0.25 of train) mAP@all" in capsys.readouterr().out


def test_holdout_split_keeps_every_class_and_no_overlap(tiny_synthetic):
    import numpy as np

    from dsah.data import cub, prepared

    root, params = tiny_synthetic
    data = prepared.from_records(cub.load(root), params.data.image_size, "synthetic")
    split = prepared.holdout(data, 0.25)
    rest, val = split.train, split.test
    assert set(np.unique(val.labels)) == set(np.unique(rest.labels)) == set(np.unique(data.train.labels))
    assert not set(val.ids) & set(rest.ids) and len(val) + len(rest) == len(data.train)


def test_training_benchmark_prints_every_step(capsys):
    from dsah.cli import bench_train

    assert bench_train.main(["--params", str(ROOT / "profiles" / "fast.yaml"), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for step in ("hash_only step (NCHW)", "dsah step 1: hashing (NHWC)", "dsah step 2: attention (NHWC)"):
        assert step in out
    assert "dsah batch (step 1 + step 2), NHWC:" in out

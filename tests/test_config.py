"""Parameter validation: the real and fast profiles load; each mistake stops with one clear line."""
import copy

import pytest
import yaml

from dsah import config
from tests.conftest import ROOT


@pytest.fixture
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def error_of(raw) -> str:
    with pytest.raises(config.ConfigError) as e:
        config.parse(raw, "params.yaml")
    return str(e.value)


def test_pipeline_and_fast_profiles_are_valid():
    full = config.load(ROOT / "params.yaml")
    fast = config.load(ROOT / "profiles" / "fast.yaml")
    assert full.profile == "full" and fast.profile == "fast"
    assert full.bits == [12, 24, 32, 48]
    assert set(fast.model_dump()) == set(full.model_dump())


def test_unknown_key(raw):
    raw["train"]["learning_rate"] = 0.1
    msg = error_of(raw)
    assert msg == "params.yaml: train.learning_rate = 0.1: unknown key; check the spelling against params.yaml"


def test_unknown_top_level_section(raw):
    raw["trian"] = {"lr": 1}
    assert "params.yaml: trian: unknown key" in error_of(raw)


def test_bits_zero(raw):
    raw["bits"] = [12, 0]
    assert error_of(raw) == "params.yaml: bits = [12, 0]: code length 0 must be a positive number of bits"


def test_negative_learning_rate(raw):
    raw["train"]["lr"] = -0.001
    assert error_of(raw) == "params.yaml: train.lr = -0.001: Input should be greater than 0"


def test_real_dataset_root_defaults_to_data_raw(raw, tmp_path):
    raw["data"]["name"] = "cub200"
    assert config.parse(raw).data.source == "data/raw/cub200"
    raw["data"]["root"] = str(tmp_path)
    assert config.parse(raw).data.source == str(tmp_path)


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("data", "name"), "imagenet", "unknown dataset 'imagenet'; allowed: synthetic, cub200, stanford_dogs"),
        (("data", "protocol"), "dpsh", "protocol='dpsh' applies to cifar10 only, not synthetic"),
        (("data", "flowers17_split"), 4, "Input should be less than or equal to 3"),
        (("methods",), ["hash_only", "dpsh2"], "unknown method 'dpsh2'; allowed here: csq, dpsh, dsh, dtq, dtsh, "
                                                "greedyhash, hash_only, hashnet, oracle_mask, oracle_mask_csq, "),
        (("methods",), ["lsh"], "unknown method 'lsh' (lsh belongs in fitted_methods)"),
        (("methods",), ["hash_only", "dsah"], "unknown method 'dsah' (dsah belongs in attention_methods)"),
        (("attention_methods",), ["hash_only"], "(hash_only belongs in methods); allowed here: dsah, dsah_csq, "),
        (("attention_methods",), ["dsah", "dsah"], "a method is listed twice"),
        (("attention", "saliency_loss"), "hinge", "Input should be 'ranking', 'distance' or 'none'"),
        (("attention", "margin"), -0.1, "Input should be greater than or equal to 0"),
        (("attention", "attention_out_stride"), 6, "attention_out_stride=6 must be a power of two"),
        (("eval", "codes"), "concat", "Input should be 'salient', 'original' or 'fused'"),
        (("eval", "part_box"), 0, "Input should be greater than 0"),
        (("eval", "top_k"), [100, 0], "[100, 0] must be a non-empty list of distinct positive integers"),
        (("eval", "precision_at"), [], "[] must be a non-empty list of distinct positive integers"),
        (("eval", "radius"), -1, "Input should be greater than or equal to 0"),
        (("model", "backbone"), "resnet101", "unknown backbone 'resnet101'"),
        (("train", "epochs"), "ten", "Input should be a valid integer"),
        (("train", "epochs"), 0, "Input should be greater than or equal to 1"),
        (("train", "device"), "tpu", "device 'tpu' is not one of auto, cpu, cuda, cuda:N"),
        (("train", "augment"), "yes", "Input should be 'shift', 'crop_flip' or 'none'"),
        (("train", "crop_scale"), [0.5, 1.5], "expected [low, high] with 0 < low <= high <= 1"),
        (("data", "store_size"), 32, "store_size=32 must be at least image_size=64"),
        (("model", "pretrained_norm"), "eval", "Input should be 'frozen', 'calibrated' or 'train'"),
        (("data", "synthetic", "part_size"), 40, "part_size=40 must be at most image_size/4 = 16"),
        (("data", "synthetic", "blob_scale"), [1.2, 1.0], "expected [low, high] with 0 < low <= high"),
        (("model", "pool"), "mean", "Input should be 'avg' or 'max'"),
    ],
)
def test_each_bad_value_names_key_value_and_rule(raw, path, value, expected):
    raw = copy.deepcopy(raw)
    node = raw
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    msg = error_of(raw)
    assert expected in msg
    assert msg.count("\n") == 0, msg  # one problem, one line


def test_a_fitted_method_needs_the_run_it_reads(raw):
    raw["methods"], raw["fitted_methods"] = ["dpsh"], ["itq"]
    assert "itq (in fitted_methods) reads the trained hash_only runs" in error_of(raw)
    raw["methods"] = ["hash_only"]
    assert config.parse(raw).all_methods[:2] == ["hash_only", "itq"]


def test_yaml_exponent_strings_are_numbers(raw):
    raw["train"]["lr"] = "1e-3"  # what PyYAML returns for `lr: 1e-3`
    assert config.parse(raw).train.lr == pytest.approx(1e-3)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(config.ConfigError, match="parameter file not found"):
        config.load(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(bad)


def test_check_run():
    config.check_run("hash_only", 12)
    with pytest.raises(config.ConfigError, match="bits=0"):
        config.check_run("hash_only", 0)
    with pytest.raises(config.ConfigError, match="method='nope'"):
        config.check_run("nope", 12)


def test_command_line_check(tmp_path, capsys, raw):
    from dsah.cli.params import main

    assert main([str(ROOT / "params.yaml")]) == 0
    assert "valid (full profile" in capsys.readouterr().out
    raw["train"]["lr"] = -1
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw))
    assert main([str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"{bad}: train.lr = -1.0: Input should be greater than 0"
    flat = tmp_path / "flat" / "params.yaml"
    flat.parent.mkdir()
    assert main([str(ROOT / "profiles" / "fast.yaml"), "--write", str(flat)]) == 0  # a profile, flattened
    assert config.load(flat) == config.load(ROOT / "profiles" / "fast.yaml") and "extends" not in flat.read_text()
    chained = tmp_path / "chain" / "params.yaml"
    chained.parent.mkdir()
    chained.write_text(f"extends: {ROOT / 'params.yaml'}\n")
    assert main([str(chained)]) == 2  # the pipeline's params.yaml must be flat: DVC reads its keys
    assert "must be flat" in capsys.readouterr().err


def test_relative_dataset_root_is_relative_to_the_repository(raw, monkeypatch, tmp_path):
    (ROOT / ".scratch").mkdir(exist_ok=True)
    raw["data"]["name"] = "cub200"
    raw["data"]["root"] = ".scratch"
    monkeypatch.chdir(ROOT / "notebooks")  # where nbval and Jupyter run a notebook
    assert config.parse(raw).data.root == ".scratch"


def test_every_profile_is_valid():
    from tests.conftest import ROOT

    files = sorted((ROOT / "profiles").glob("*.yaml"))
    assert len(files) >= 7
    for f in files:
        p = config.load(f)
        if f.stem.startswith("paper_") and f.stem != "paper_common":
            assert p.data.image_size == 224 and p.model.pretrained and p.bits == [12, 24, 32, 48]
            assert p.data.name == f.stem.removeprefix("paper_") and p.profile == f.stem


def test_an_empty_file_is_refused(tmp_path):
    from dsah import config

    f = tmp_path / "p.yaml"
    f.write_text("")
    with pytest.raises(config.ConfigError, match="empty parameter file"):
        config.load(f)


def test_the_check_reports_a_missing_dataset_folder_like_prepare(tmp_path, capsys):

    from dsah.cli.params import main

    f = tmp_path / "p.yaml"
    f.write_text(f"data:\n  name: cub200\n  root: {tmp_path / 'nowhere'}\n")
    assert main([str(f)]) == 2
    err = capsys.readouterr().err
    assert "no data at" in err and "nowhere" in err and "CUB_200_2011.tgz" in err


def test_dsah_codes_moved_to_eval(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["dsah"] = {"codes": "original"}
    with pytest.raises(config.ConfigError, match=r"dsah.codes = 'original': moved to eval.codes"):
        config.parse(raw)


def test_extends_merges_sections_and_replaces_lists(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"bits": [12, 24], "train": {"epochs": 3, "lr": 0.01}}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "over.yaml").write_text("extends: ../base.yaml\nbits: [48]\ntrain: {epochs: 5}\n")
    p = config.load(tmp_path / "sub" / "over.yaml")
    assert p.bits == [48] and p.train.epochs == 5 and p.train.lr == 0.01
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(config.ConfigError, match="extends itself"):
        config.load(tmp_path / "loop.yaml")
    (tmp_path / "missing.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(config.ConfigError, match="nowhere.yaml: parameter file not found"):
        config.load(tmp_path / "missing.yaml")


def _leaves(tree: dict, prefix: str = ""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_every_profile_is_an_overlay_that_lists_exactly_the_keys_it_changes():
    """A profile extends params.yaml (directly or through another profile) and states only what it changes:
    every key it lists differs from what its base gives (so a default chosen later reaches every profile
    that did not choose otherwise), and every key is one params.yaml has."""
    full = dict(_leaves(config.parse(config.read(ROOT / "params.yaml")).model_dump(mode="json")))
    for f in sorted((ROOT / "profiles").glob("*.yaml")):
        own = yaml.safe_load(f.read_text())
        assert "extends" in own, f"{f.name}: not an overlay (no extends:)"
        base = config.parse(config.read(f.parent / own.pop("extends"))).model_dump(mode="json")
        flat = dict(_leaves(base))
        for key, value in _leaves(own):
            assert key in full, f"{f.name}: {key} is not a key of params.yaml"
            assert value != flat[key], f"{f.name}: {key} = {value!r} repeats its base's value"

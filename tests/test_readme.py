"""The README's results block is generated from the committed metrics, never typed."""
import json
import shutil

import pytest

from dsah import config, paths
from dsah.cli import readme

ROOT = paths.repo_root(paths.Path(__file__).parent)


def test_readme_results_block_matches_the_committed_metrics():
    assert readme.main(["--check"]) == 0, "run `python -m dsah.cli.readme` after `make repro` and commit both"


def test_a_changed_metric_changes_the_block(tmp_path):
    params = config.load(ROOT / "params.yaml")
    shutil.copytree(ROOT / "metrics", tmp_path / "metrics")
    shutil.copytree(ROOT / "provenance", tmp_path / "provenance")  # what each run is (metrics: numbers only)
    text = (ROOT / "docs" / "results.md").read_text()
    before = readme.render(text, readme.block(params, paths.Layout(tmp_path)))
    path = paths.Layout(tmp_path).metrics(params.all_methods[0], params.bits[0], params.seeds[0])
    m = json.loads(path.read_text())
    m["map_tie_aware"] += 0.01
    path.write_text(json.dumps(m))
    after = readme.render(text, readme.block(params, paths.Layout(tmp_path)))
    assert before != after and f"{100 * m['map_tie_aware']:.1f}" in after
    path.unlink()
    with pytest.raises(SystemExit, match="metrics missing"):
        readme.block(params, paths.Layout(tmp_path))


def _sweep_spec(tmp_path, rows, **extra):
    (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = {"about": "test runs.", "command": "python -m dsah.cli.sweep …", "records": ["runs.jsonl"], "bits": [12],
            "select": {"base": {"method": "hash_only"}, "ours": {"method": "dsah", "overrides": ["dsah.salient_view=zoom"]}},
            "paired": {"ours": ["base"]}, **extra}
    path = tmp_path / "block.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def _sweep_row(method, seed, value, overrides=()):
    return {"method": method, "bits": 12, "seed": seed, "split": "test", "overrides": [*overrides, f"train.seed={seed}"],
            "map_tie_aware": value, "map_all": value}


def test_a_sweep_block_is_generated_from_the_records_it_selects(tmp_path):
    rows = [_sweep_row("hash_only", s, 0.5 + 0.01 * s) for s in range(3)]
    rows += [_sweep_row("dsah", s, 0.6 + 0.01 * s, ["dsah.salient_view=zoom"]) for s in range(3)]
    rows += [_sweep_row("dsah", 0, 0.99)]  # another configuration: not selected
    text = readme.sweep_block(_sweep_spec(tmp_path, rows), tmp_path)
    assert "| base | 51.0 ± 1.0 (3) |" in text and "| ours | 61.0 ± 1.0 (3) |" in text
    assert "+10.0" in text and "training seeds 0, 1, 2" in text and "`dsah.salient_view=zoom`" in text
    rendered = readme.render("a\n<!-- block:start -->\nold\n<!-- block:end -->\nb", text, "block")
    assert "old" not in rendered and "| ours |" in rendered


def test_a_bad_sweep_block_names_the_file(tmp_path):
    path = _sweep_spec(tmp_path, [_sweep_row("hash_only", 0, 0.5)], colour="red")
    with pytest.raises(SystemExit, match="block.yaml: not a sweep block"):
        readme.sweep_block(path, tmp_path)
    path = _sweep_spec(tmp_path, [_sweep_row("hash_only", 0, 0.5)], records=["gone.jsonl"])
    with pytest.raises(SystemExit, match="gone.jsonl: no such sweep record"):
        readme.sweep_block(path, tmp_path)


def test_a_sweep_block_can_show_relative_gains_and_training_time(tmp_path):
    rows = [{**_sweep_row("hash_only", s, 0.5), "train_seconds": 60.0} for s in range(3)]
    rows += [{**_sweep_row("dsah", s, 0.55, ["dsah.salient_view=zoom"]), "train_seconds": 300.0} for s in range(3)]
    text = readme.sweep_block(_sweep_spec(tmp_path, rows, relative={"ours": "base"}, times=True), tmp_path)
    assert "| ours vs base | +10.0 % |" in text
    assert "| base | 60 s |" in text and "| ours | 300 s |" in text and "0.3 CPU-hours" in text


def test_a_finding_line_can_name_its_comparison(tmp_path):
    rows = [_sweep_row("hash_only", s, 0.5 + 0.01 * s) for s in range(3)]
    rows += [_sweep_row("dsah", s, 0.6 + 0.02 * s, ["dsah.salient_view=zoom"]) for s in range(3)]
    spec = _sweep_spec(tmp_path, rows)
    (tmp_path / readme.SWEEPS).mkdir(parents=True)
    shutil.copy(spec, tmp_path / readme.SWEEPS / "block.yaml")  # its records are relative to the root
    default = readme.finding(readme.Finding(title="t", source="block", link="x"), tmp_path, None)
    assert "`ours` − `base`" in default and "12: +11.0" in default
    reverse = readme.finding(readme.Finding(title="t", source="block", link="x", method="base", versus="ours"),
                             tmp_path, None)
    assert "`base` − `ours`" in reverse and "12: -11.0" in reverse
    with pytest.raises(SystemExit, match="the sweep block block has no 'csq'"):
        readme.finding(readme.Finding(title="t", source="block", link="x", versus="csq"), tmp_path, None)


def test_the_plugin_tables_cover_attention_on_other_bases():
    params = config.load(ROOT / "params.yaml").model_copy(
        update={"attention_methods": ["dsah", "dsah_nosal", "dsah_csq", "dsah_nosal_csq"]})
    assert readme.plugins(params, "dsah") == ["dsah_csq"]


def test_another_profiles_repro_leaves_the_results_and_findings_alone(capsys):
    """`make repro` of a profile (here the dogs report's parameters over the default metrics/) must not
    rewrite the README's lines about the default pipeline."""
    args = ["--params", "profiles/dogs_report.yaml", "--only-profile", "full", "--check", "--files", "README.md"]
    assert readme.main(args) == 0
    assert "left as they are: profile 'dogs_report'" in capsys.readouterr().out

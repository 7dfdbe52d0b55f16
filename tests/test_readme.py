"""The README's results block is generated from the committed metrics, never typed."""
import json
import shutil

import pytest

from dsah import config, paths, readme

ROOT = paths.repo_root(paths.Path(__file__).parent)


def test_readme_results_block_matches_the_committed_metrics():
    assert readme.main(["--check"]) == 0, "run `python -m dsah.readme` after `make repro` and commit both"


def test_a_changed_metric_changes_the_block(tmp_path):
    params = config.load(ROOT / "params.yaml")
    shutil.copytree(ROOT / "metrics", tmp_path / "metrics")
    shutil.copytree(ROOT / "provenance", tmp_path / "provenance")  # what each run is (metrics: numbers only)
    text = (ROOT / "README.md").read_text()
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

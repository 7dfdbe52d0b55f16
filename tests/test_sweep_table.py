"""dsah/cli/sweep_table.py: sweep records selected by method and overrides, seed tables, paired differences."""
import json
import subprocess
import sys

from tests.conftest import ROOT


def _row(method, bits, seed, value, overrides=(), split="test", **extra):
    return {"method": method, "bits": bits, "seed": seed, "split": split, "overrides": [*overrides, f"train.seed={seed}"],
            "map_tie_aware": value, "map_all": value, **extra}


def _run(*args):
    return subprocess.run([sys.executable, "-m", "dsah.cli.sweep_table", *map(str, args)], cwd=ROOT, capture_output=True, text=True)


def test_selects_by_overrides_and_pairs_by_seed(tmp_path):
    f = tmp_path / "runs.jsonl"
    rows = [_row("hash_only", 12, s, v, ["train.theta_bits=12"]) for s, v in enumerate([0.50, 0.52, 0.54])]
    rows += [_row("dsah", 12, s, v, ["dsah.salient_view=zoom", "train.theta_bits=12"]) for s, v in enumerate([0.60, 0.63, 0.64])]
    rows += [_row("dsah", 12, 0, 0.99, ["dsah.salient_view=fade"])]                   # another configuration
    rows += [_row("dsah", 12, 1, 0.01, ["dsah.salient_view=zoom", "train.theta_bits=12"], split="validation")]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = _run(f, "--select", "hash_only=hash_only:train.theta_bits=12",
               "--select", "dsah=dsah:train.theta_bits=12,dsah.salient_view=zoom",
               "--bits", 12, 24, "--paired", "dsah:hash_only")
    assert out.returncode == 0, out.stderr
    assert "| hash_only | 52.0 ± 2.0 (3) | missing |" in out.stdout
    assert "| dsah | 62.3 ± 2.1 (3) | missing |" in out.stdout
    # differences 10, 11, 10 points: mean 10.3, sd 0.58, better than 2 sd
    assert "+10.3" in out.stdout and "(n=3, better)" in out.stdout


def test_headroom_share_of_the_seed_means(tmp_path):
    f = tmp_path / "runs.jsonl"
    rows = [_row("hash_only", 32, s, 0.40) for s in range(2)] + [_row("oracle_mask", 32, s, 0.80) for s in range(2)]
    rows += [_row("dsah", 32, 0, 0.50), _row("dsah", 32, 1, 0.70)]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    out = _run(f, "--select", "hash_only=hash_only", "--select", "oracle_mask=oracle_mask", "--select", "dsah=dsah",
               "--bits", 32, "--headroom", "dsah")
    assert out.returncode == 0, out.stderr
    assert "32: 50 %" in out.stdout


def test_two_rows_for_one_seed_are_an_error_naming_the_line(tmp_path):
    f = tmp_path / "runs.jsonl"
    f.write_text(json.dumps(_row("dsah", 12, 0, 0.5)) + "\n" + json.dumps(_row("dsah", 12, 0, 0.6)) + "\n")
    out = _run(f, "--select", "dsah=dsah")
    assert out.returncode != 0
    assert f"{f}:2" in out.stderr and "seed 0" in out.stderr


def test_bad_select_and_missing_file(tmp_path):
    assert "LABEL=METHOD" in _run(tmp_path / "x.jsonl", "--select", "dsah").stderr
    out = _run(tmp_path / "x.jsonl", "--select", "dsah=dsah")
    assert out.returncode != 0 and "no such sweep record" in out.stderr

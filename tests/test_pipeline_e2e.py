"""End to end: `dvc repro` of the fast profile in a temporary copy of the repository.

Checks that the whole pipeline runs, that a second `dvc repro` does nothing, and that changing one
training parameter re-runs exactly the stages that depend on it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def sh(args, cwd, env=None):
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out.stdout + out.stderr


def ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", log))


@pytest.fixture(scope="module")
def pipeline_copy(tmp_path_factory):
    dst = tmp_path_factory.mktemp("e2e") / "repo"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("metrics/", "reports/", "runs/")) and rel != "dvc.lock":
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    sh([sys.executable, "-m", "dsah.cli.params", "profiles/fast.yaml", "--write", "params.yaml"], dst, env)  # flat
    git = ["git", "-c", "user.name=dsah-test", "-c", "user.email=test@dsah"]
    sh(["git", "init", "-q"], dst)
    sh([*git, "add", "-A"], dst)
    sh([*git, "commit", "-q", "-m", "fast profile"], dst)
    return dst, env


# Which stages a change to each parameter makes stale directly (DVC re-runs the stages below them
# too when their outputs change: prepare -> train* -> evaluate -> report). check_params reads the
# whole file. Keys not listed take their section's row.
RERUN = {
    "profile": {"evaluate", "report"},
    "methods": {"evaluate", "report"},  # (and adds or removes train@<method> stages)
    "fitted_methods": {"evaluate", "report"},
    "attention_methods": {"evaluate", "report"},
    "bits": {"train", "train_fitted", "train_attention", "evaluate", "report"},  # every length trains in one stage
    "seeds": {"evaluate", "report"},  # (and adds or removes train@<method>-<seed> stages)
    "data": {"prepare"},
    "model": {"train", "train_fitted", "train_attention"},
    "train": {"train", "train_fitted", "train_attention"},
    "train.device": {"train", "train_fitted", "train_attention", "report"},  # the report encodes its retrieval figure
    "attention": {"train_attention"},  # the attention methods' own section
    "method": {"train", "train_fitted", "train_attention"},  # each method's own constants (method.<name>): bases too
    "eval": {"evaluate", "report"},  # eval.codes included: which branch encodes is chosen at evaluation
}


def leaves(tree: dict, prefix: str = ""):
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            yield from leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def rerun_table(repo: Path, params: dict) -> None:
    """Change every parameter of params.yaml in turn and ask DVC which stages are stale."""
    from dvc.repo import Repo

    text = (repo / "params.yaml").read_text()
    locked = set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"])
    dvc = Repo(str(repo))
    try:
        for key in leaves(params):
            raw = yaml.safe_load(text)
            *path, last = key.split(".")
            node = raw
            for p in path:
                node = node[p]
            # lists grow (a matrix list then adds stages, which are new, not stale: left out)
            node[last] = node[last] + ["new"] if isinstance(node[last], list) else "__changed__"
            (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
            names = [n.rsplit(":", 1)[-1] for n in dvc.status()]
            stale = {n.split("@")[0] for n in names if n in locked}
            expected = {"check_params"} | RERUN.get(key, RERUN[key.split(".")[0]])
            assert stale == expected, f"changing {key} makes {sorted(stale)} stale, expected {sorted(expected)}"
    finally:
        dvc.close()
        (repo / "params.yaml").write_text(text)


def test_repro_runs_everything_then_nothing_then_only_dependents(pipeline_copy):
    repo, env = pipeline_copy
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["methods"] and params["fitted_methods"] and params["attention_methods"], \
        "the fast profile covers the three training stages"
    runs = {key: [(m, b, s) for m in params[key] for b in params["bits"] for s in params["seeds"]]
            for key in ("methods", "fitted_methods", "attention_methods")}
    plain = [f"{m}-{b}-s{s}" for m, b, s in runs["methods"] + runs["fitted_methods"]]  # metrics/<method>-<bits>-s<seed>.json
    attention = [f"{m}-{b}-s{s}" for m, b, s in runs["attention_methods"]]
    assert "dtq" in params["methods"], "the fast profile covers a quantization method"
    # one train stage per method and seed, training every code length in one process
    trains = ({f"train@{m}-{s}" for m in params["methods"] for s in params["seeds"]}
              | {f"train_fitted@{m}-{s}" for m in params["fitted_methods"] for s in params["seeds"]}
              | {f"train_attention@{m}-{s}" for m in params["attention_methods"] for s in params["seeds"]})

    first = sh(["dvc", "repro"], repo, env)
    expected = {"check_params", "prepare", "evaluate", "report"} | trains
    assert ran(first) == expected
    assert re.search(r"\[hash_only-12\] epoch 1/\d+ loss", first), "training progress is visible in the log"
    assert re.search(r"\[dsah-12\] epoch 1/\d+ .*map_mean [0-9.]+ map_above_half", first), "map statistics are logged"
    for r in plain + attention:
        numbers = json.loads((repo / "metrics" / f"{r}.json").read_text())
        assert all(isinstance(v, (int, float)) for v in numbers.values()), "metrics/ holds numbers only"
        record = json.loads((repo / "provenance" / f"{r}.json").read_text())
        m = {**record["run"], **record["metrics"]}
        assert numbers.items() <= m.items() and "chance_map" not in numbers  # headline numbers in metrics/
        assert {"dataset", "method", "bits", "map_all"} <= m.keys()
        assert m["dataset"] == "synthetic" and 0 <= m["map_all"] <= 1 and m["profile"] == "fast"
        assert ("pointing_game" in m) == (r in attention)
        assert m["map_lower"] <= m["map_tie_aware"] <= m["map_upper"] and m["seed"] == 0
        hamming = not r.startswith("dtq-")  # DTQ: product-quantised database, no Hamming radius
        assert ("precision_h2" in m) == hamming
        for kind in ("radius", "rank") if hamming else ("rank",):
            assert json.loads((repo / "curves" / kind / f"{r}.json").read_text())[-1]["recall"] > 0.99
        assert (repo / "codes" / f"{r}.{'database' if hamming else 'pq'}.npz").is_file()
        method, bits, seed = r.rsplit("-", 2)
        assert (repo / "runs" / f"{method}-{seed}" / bits / "checkpoint.pt").is_file()
        assert (repo / "history" / f"{method}-{seed}" / f"{bits}.csv").read_text().startswith("epoch,")
        assert (repo / "reports" / "notebooks" / "train" / f"{method}-{seed}.ipynb").is_file()
    for r in attention:
        m = json.loads((repo / "provenance" / f"{r}.json").read_text())["metrics"]
        assert 0 <= m["pointing_game"] <= 1 and 0 < m["pointing_chance"] < 1
    assert (repo / "reports" / "report.html").stat().st_size > 10_000
    shown = sh(["dvc", "metrics", "show"], repo, env)
    assert "map_all" in shown and "pointing_game" in shown and "map_tie_aware" in shown
    assert "code_version" not in shown and "tie_order" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 200, "dvc metrics show fits 200 columns"
    # the top-level plots: three overlays, drawn by the committed offline page (no CDN)
    (repo / ".scratch").mkdir(exist_ok=True)
    sh(["dvc", "plots", "show", "-o", str(repo / ".scratch" / "plots")], repo, env)
    page = (repo / ".scratch" / "plots" / "index.html").read_text()
    assert page.count("vegaEmbed(") == 3 and "cdn.jsdelivr" not in page and "vega@5.20.2" in page
    if shutil.which("chromium"):  # the page draws its three plots with the network off (.ci/run installs it)
        check = subprocess.run([sys.executable, "-m", "dsah.cli.check_offline_plots",
                                str(repo / ".scratch" / "plots" / "index.html")], capture_output=True, text=True, timeout=300)
        assert check.returncode == 0 and "3 of 3 plots drew offline" in check.stdout, check.stdout + check.stderr
    for name in ("map_bits", "pr", "loss"):
        records = json.loads((repo / "reports" / "plots" / f"{name}.json").read_text())
        assert records and {r["method"] for r in records} >= set(params["methods"])

    again = sh(["dvc", "repro"], repo, env)
    assert ran(again) == set() and "Data and pipelines are up to date" in again
    rerun_table(repo, params)

    # A top-level key that no stage reads still stops dvc repro, with the one-line message.
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False) + "bogus_key_xyz: 1\n")
    bad = subprocess.run(["dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "bogus_key_xyz = 1: unknown key" in bad.stdout + bad.stderr

    # A DSaH parameter re-runs the attention methods only, then evaluation and the report.
    params["attention"]["margin"] = params["attention"]["margin"] * 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = sh(["dvc", "repro"], repo, env)
    assert ran(changed) == {t for t in trains if t.startswith("train_attention@")} | {"check_params", "evaluate", "report"}

    # A training parameter shared by all methods re-runs every training stage, not the data.
    params["train"]["lr"] = params["train"]["lr"] * 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = sh(["dvc", "repro"], repo, env)
    assert ran(changed) == expected - {"prepare"}  # check_params included: params.yaml changed
    assert "Stage 'prepare' didn't change, skipping" in changed

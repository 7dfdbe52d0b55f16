"""`python -m dsah.cli.compare`: method x bits tables of one metric per revision, and their difference."""
import json
import subprocess
import sys

from dsah.cli import compare


def _write(repo, values):
    for (m, b, s), v in values.items():
        (repo / "metrics" / f"{m}-{b}-s{s}.json").write_text(json.dumps({"map_tie_aware": v, "pointing_game": 0.5}))


def _repo(repo, values):
    """A git + DVC repository whose one commit holds `values` as metrics files."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    (repo / "dvc.yaml").write_text("stages:\n  evaluate:\n    cmd: 'true'\n    metrics:\n      - metrics:\n          cache: false\n")
    (repo / "metrics").mkdir()
    _write(repo, values)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=repo, check=True)
    return repo


def test_tables_for_two_revisions_and_their_difference(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path, {("hash_only", 12, 0): 0.50, ("hash_only", 12, 1): 0.60, ("dsah", 12, 0): 0.70,
                            ("dsah", 12, 1): 0.80})
    _write(repo, {("hash_only", 12, 0): 0.55, ("hash_only", 12, 1): 0.65, ("dsah", 12, 0): 0.70, ("dsah", 12, 1): 0.80})
    monkeypatch.chdir(repo)
    assert compare.main(["--rev", "HEAD", "--rev", "workspace"]) == 0
    out = capsys.readouterr().out
    head, work, diff = out.split("\n\n# ")
    assert "# HEAD: map_tie_aware (%), mean over 2 seed(s)" in head
    assert "hash_only  55.0 ± 7.1" in head and "dsah       75.0 ± 7.1" in head
    assert "hash_only  60.0 ± 7.1" in work
    assert diff.startswith("workspace - HEAD") and "hash_only     +5.0" in diff and "dsah          +0.0" in diff
    assert compare.main(["--metric", "pointing_game", "--csv"]) == 0
    assert "method,12 bits\nhash_only,50.0 ± 0.0\n" in capsys.readouterr().out
    assert compare.main(["--metric", "nope"]) == 2
    assert "no metrics/<method>-<bits>-s<seed>.json with 'nope'" in capsys.readouterr().err


def test_an_experiment_by_name(tmp_path, monkeypatch, capsys):
    repo = _repo(tmp_path, {("dsah", 12, 0): 0.50})
    _write(repo, {("dsah", 12, 0): 0.60})
    subprocess.run([sys.executable, "-m", "dvc", "exp", "save", "-n", "tryit", "-q"], cwd=repo, check=True,
                   env={**__import__("os").environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    monkeypatch.chdir(repo)
    assert compare.main(["--rev", "HEAD", "--rev", "tryit"]) == 0
    out = capsys.readouterr().out
    assert "# tryit - HEAD\nmethod  12 bits\ndsah      +10.0" in out

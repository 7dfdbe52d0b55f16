"""The stage runner: a notebook that raises ends the stage with the library's one line, printed last."""
import subprocess
import sys

import nbformat
import pytest


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def _run(tmp_path, *extra):
    return subprocess.run([sys.executable, "-m", "dsah.cli.notebook", "--no-progress-bar", "--kernel", "python3",
                           str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), *extra],
                          capture_output=True, text=True, timeout=300)


pytestmark = pytest.mark.slow  # papermill kernels in subprocesses


def test_failure_is_one_line_printed_last(tmp_path):
    _notebook(tmp_path / "in.ipynb", "print('x is', x)",
              "from dsah.config import ConfigError\n"
              "raise ConfigError('p.yaml: train.epochs = 0: Input should be greater than or equal to 1')")
    out = _run(tmp_path, "-p", "x", "5")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == "ConfigError: p.yaml: train.epochs = 0: Input should be greater than or equal to 1"
    assert "Traceback" not in out.stderr + out.stdout
    # [4]: papermill inserts the injected-parameters cell after the parameters cell
    assert lines[-2] == f"(the traceback is in cell [4] of {tmp_path / 'out.ipynb'})"
    kept = nbformat.read(tmp_path / "out.ipynb", 4)
    assert any(o.get("ename") == "ConfigError" for c in kept.cells for o in c.get("outputs", []))


def test_success_and_bad_option(tmp_path):
    _notebook(tmp_path / "in.ipynb", "assert x == 5")
    assert _run(tmp_path, "-p", "x", "5").returncode == 0
    bad = _run(tmp_path, "--no-such-option")
    assert bad.returncode == 2 and "No such option '--no-such-option'" in bad.stderr


def test_train_notebook_runs_a_shallow_method(tmp_path):
    """LSH and ITQ are fitted once, with no per-epoch losses, on the features of the trained hash_only run
    (which they read, never retrain): the train notebook says which run is missing, then runs (its loss
    plot has nothing to draw); the nbval and end-to-end runs cover the deep methods."""
    from tests.conftest import ROOT

    def run(method):
        return subprocess.run([sys.executable, "-m", "dsah.cli.notebook", "--no-progress-bar", "--kernel", "python3",
                               "notebooks/02_train.ipynb", str(tmp_path / f"{method}.ipynb"), "-p", "workdir",
                               str(tmp_path), "-p", "method", method], cwd=ROOT, capture_output=True, text=True,
                              timeout=600)

    first = run("lsh")
    assert first.returncode == 1 and "no checkpoint; run the train stage for hash_only-12 (seed 0) first" in first.stderr
    assert run("hash_only").returncode == 0
    out = run("lsh")
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "runs" / "lsh-s0" / "12" / "checkpoint.pt").is_file()

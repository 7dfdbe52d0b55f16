"""Source notebooks are DVC dependencies and thin front-ends: stripped, parameterised, no definitions."""
import ast
import json

import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_one_notebook_per_stage():
    assert [p.stem for p in NOTEBOOKS] == ["01_prepare", "02_train", "03_evaluate", "04_report"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_thin(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters` (papermill)"
    params = "".join(tagged[0]["source"])
    assert 'params_file = "profiles/fast.yaml"' in params and 'workdir = ".scratch/nbval"' in params
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None, "strip outputs before committing"
        tree = ast.parse("".join(c["source"]))
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        assert not defs, "functions and classes belong in the dsah package"

"""dvc.yaml cannot drift from the code: each stage's code deps are what its commands import, its params
are the sections its methods read, and the outputs a stage reads are its deps."""
import copy

import yaml

from dsah import methods
from dsah.cli import deps
from tests.conftest import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_every_stage_lists_exactly_the_code_it_imports():
    assert deps.differences(DVC) == {}, deps.differences(DVC)


def test_a_deliberate_omission_and_a_stale_entry_are_named():
    broken = copy.deepcopy(DVC)
    broken["stages"]["report"]["deps"].remove("dsah/report.py")  # the report imports it
    broken["stages"]["prepare"]["deps"].append("dsah/hamming.py")  # prepare never imports it
    diff = deps.differences(broken)
    assert diff["report"] == ([], ["dsah/report.py"]) and diff["prepare"] == (["dsah/hamming.py"], [])
    assert set(diff) == {"report", "prepare"}


def test_imports_are_followed_through_functions_notebooks_and_the_self_scanning_registry():
    files = {str(f.relative_to(ROOT)) for f in deps.closure({"dsah.stages.train"})}
    assert "dsah/train.py" in files  # imported inside a function
    assert {f"dsah/methods/{n}.py" for n in ("csq", "itq", "dsah_nosal")} <= files  # the registry scans its package
    nb = deps.stage_code(["python -m dsah.cli.notebook notebooks/04_report.ipynb reports/report.ipynb"])[0]
    assert {"dsah/report.py", "dsah/plots.py", "dsah/cli/notebook.py"} <= {str(f.relative_to(ROOT)) for f in nb}


def test_each_stage_reads_the_parameter_sections_of_its_methods():
    groups = {"train": "methods", "train_fitted": "fitted_methods", "train_attention": "attention_methods"}
    for stage, group in groups.items():
        params = set(DVC["stages"][stage]["params"])
        for name, cls in methods.METHODS.items():
            path = cls.config_path()
            if methods.stage_of(name) == group and path:
                assert path.split(".")[0] in params, f"{stage} does not depend on {path} ({name} reads it)"
            for section in cls.extra_sections if methods.stage_of(name) == group else ():
                assert section in params, f"{stage} does not depend on {section} ({name} reads it)"


def test_outputs_a_stage_reads_are_its_dependencies():
    report = set(DVC["stages"]["report"]["deps"])
    assert {"metrics", "provenance", "curves", "codes", "runs", "history", "data/prepared"} <= report
    fitted = DVC["stages"]["train_fitted"]["deps"]
    for name, cls in methods.METHODS.items():
        if cls.fitted:
            assert f"runs/{cls.features_from}-s${{item.seed}}" in fitted, name
    assert {"runs", "data/prepared"} <= set(DVC["stages"]["evaluate"]["deps"])

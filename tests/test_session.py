"""The notebooks' first cell: a by-hand scratch run prepares what it lacks; the pipeline's workdir
never gets data prepared behind DVC's back; missing runs are named with the command that makes them."""
import pytest

from dsah import config, paths
from dsah.data import prepared
from dsah.stages import session
from tests.conftest import ROOT


def test_scratch_run_prepares_then_reprepares_on_other_data(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    params, layout = session.open_notebook("profiles/fast.yaml", str(tmp_path / "scratch"), log=lambda s: None)
    said = []
    session.ensure_prepared(params, layout, log=said.append)
    assert "no prepared data" in said[0] and prepared.made_with(layout.tensors) == params.data.model_dump(mode="json")
    said.clear()
    session.ensure_prepared(params, layout, log=said.append)
    assert said == []  # already there: nothing done
    other = params.model_copy(update={"data": params.data.model_copy(update={
        "synthetic": params.data.synthetic.model_copy(update={"seed": 7})})})
    session.ensure_prepared(other, layout, log=said.append)
    assert "made with other data parameters" in said[0] and prepared.made_with(layout.tensors)["synthetic"]["seed"] == 7


def test_a_full_profile_by_hand_in_scratch_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    said = []
    session.open_notebook("params.yaml", str(tmp_path), log=said.append)
    assert said[1].startswith("NOTE: a by-hand run of profile 'full' in the scratch folder")


def test_pipeline_workdir_is_never_prepared_behind_dvc(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    params = config.load(ROOT / "profiles" / "fast.yaml")
    layout = paths.Layout(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no prepared data; run the prepare stage first \(dvc repro prepare\)"):
        session.ensure_prepared(params, layout)
    with pytest.raises(FileNotFoundError, match=r"trained runs missing; run first: dvc repro train_attention@dsah-0"):
        session.require_runs(params, layout, ["dsah"], "params.yaml")
    with pytest.raises(FileNotFoundError, match=r"no evaluated runs; run first: dvc repro"):
        session.require_metrics(layout, [])


def test_scratch_missing_runs_name_the_notebook_command(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    params = config.load(ROOT / "profiles" / "fast.yaml")
    cmds = session.missing_runs(params, paths.Layout(tmp_path), ["hash_only"], "profiles/fast.yaml")
    assert cmds == [f"python -m dsah.cli.notebook notebooks/02_train.ipynb {tmp_path}/train-hash_only-s0.ipynb "
                    f"-p params_file profiles/fast.yaml -p workdir {tmp_path} -p method hash_only -p seed 0"]

"""The first cell of every notebook: its parameters, its output folder, and what a run by hand needs.

The pipeline runs each notebook with `params_file=params.yaml` and `workdir=.` (the repository); by
hand, a notebook's defaults are the fast profile and the scratch workdir `.scratch/nbval`. A scratch
run prepares the data it lacks itself (a few seconds for the fast profile) and says so; anything else
that is missing is named with the command that makes it.
"""
from __future__ import annotations

from pathlib import Path

from dsah import config, paths
from dsah.data import prepared
from dsah.methods import stage_of

STAGES = {"methods": "train", "fitted_methods": "train_fitted", "attention_methods": "train_attention"}  # dvc.yaml

def open_notebook(params_file: str, workdir: str, log=print):
    """(params, layout) of a notebook run, with one line saying which parameters write where."""
    root = paths.repo_root()
    params = config.load(paths.resolve(params_file, root))
    layout = paths.Layout(paths.resolve(workdir, root))
    log(f"profile {params.profile!r} from {params_file}; outputs under {layout.root}")
    if not is_pipeline(layout) and params.profile != "fast":
        log(f"NOTE: a by-hand run of profile {params.profile!r} in the scratch folder {layout.root}: "
            "its outputs stay there (the pipeline's are under the repository, made by `dvc repro`)")
    return params, layout


def is_pipeline(layout: paths.Layout) -> bool:
    """Whether this run writes the pipeline's own outputs (workdir = the repository)."""
    return layout.root.resolve() == paths.repo_root().resolve()


def ensure_prepared(params, layout: paths.Layout, log=print) -> None:
    """Make sure `layout` holds data prepared with `params.data`: a scratch run prepares it (loudly);
    in the pipeline's workdir a mismatch is an error naming the stage to run."""
    want = params.data.model_dump(mode="json")
    have = prepared.made_with(layout.tensors)
    if have == want:
        return
    why = ("no prepared data" if not (Path(layout.tensors) / "meta.json").is_file()
           else "the prepared data there was made with other data parameters")
    if is_pipeline(layout):
        if have is None and (Path(layout.tensors) / "meta.json").is_file():
            return  # prepared before the data parameters were recorded: DVC tracks it
        raise FileNotFoundError(f"{layout.tensors}: {why}; run the prepare stage first (dvc repro prepare)")
    from dsah.stages import prepare

    log(f"NOTE: {layout.tensors}: {why}; preparing data {params.data.name!r} for profile "
        f"{params.profile!r} there now")
    prepare.run(params, layout, log=log)


def missing_runs(params, layout: paths.Layout, methods: list[str], params_file: str,
                 seeds: list[int] | None = None) -> list[str]:
    """The command lines that would train every (method, seed) whose checkpoints are missing."""
    cmds = []
    for m in methods:
        for s in params.seeds if seeds is None else seeds:
            if all(layout.checkpoint(m, b, s).is_file() for b in params.bits):
                continue
            if is_pipeline(layout):
                cmds.append(f"dvc repro {STAGES[stage_of(m)]}@{m}-{s}")
            else:
                cmds.append(f"python -m dsah.cli.notebook notebooks/02_train.ipynb {layout.root}/train-{m}-s{s}.ipynb "
                            f"-p params_file {params_file} -p workdir {layout.root} -p method {m} -p seed {s}")
    return cmds


def require_runs(params, layout: paths.Layout, methods: list[str], params_file: str,
                 seeds: list[int] | None = None) -> None:
    """Raise one error listing the commands that train whatever `methods` lack."""
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise config.ConfigError(f"methods = {methods!r}: expected a list of method names "
                                 "(papermill: -y 'methods: [hash_only, dsah]')")
    for m in methods:
        config.check_run(m, params.bits[0])
    cmds = missing_runs(params, layout, methods, params_file, seeds)
    if cmds:
        raise FileNotFoundError(f"{layout.root}: trained runs missing; run first: " + " ; ".join(cmds))



def require_metrics(layout: paths.Layout, runs: list) -> None:
    """The report needs at least one evaluated run; say which command makes them."""
    if not runs:
        how = ("dvc repro" if is_pipeline(layout) else
               "notebooks/01_prepare, 02_train and 03_evaluate with their defaults (or pytest --nbval notebooks/)")
        raise FileNotFoundError(f"{layout.metrics_dir}: no evaluated runs; run first: {how}")

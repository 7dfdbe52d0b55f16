"""environment.yml and pyproject.toml must name the same dependencies."""
import re
import tomllib

import yaml

from tests.conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_reqs = {_name(r): r for r in pip if not r.startswith("-")}
    py_reqs = {_name(r): r for r in project["dependencies"]}
    assert env_reqs.keys() == py_reqs.keys()
    assert {k: v.replace(" ", "") for k, v in env_reqs.items()} == {k: v.replace(" ", "") for k, v in py_reqs.items()}
    assert "-e ." in pip, "environment.yml's pip section must install the package itself"


def test_lock_pins_every_dependency():
    lock = {_name(l) for l in (ROOT / "requirements.lock").read_text().splitlines() if "==" in l}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    missing = {_name(r) for r in project["dependencies"]} - lock
    assert not missing, f"requirements.lock lacks pins for {missing}; regenerate it with pip freeze"

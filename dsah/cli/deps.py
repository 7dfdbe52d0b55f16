"""`python -m dsah.cli.deps [--check]`: each dvc.yaml stage's code dependencies, derived from what it imports.

A stage runs commands (`python -m MODULE`, a notebook through papermill); its code is the closure of the
`dsah` modules they import — every `import` statement, at any depth of a function, of each module and of
the notebook's code cells, with the packages' `__init__` files, and every module of a package that imports
its modules by scanning itself (dsah.methods' registry). The expected `deps` of a stage are those files and
the notebook, a folder standing for its files where all of them are needed. Without `--check` it prints
them per stage; with it, it exits 1 naming what each stage lists that it does not import and what it
imports that it does not list (tests/test_pipeline_deps.py runs it).
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "dsah"


def module_file(name: str) -> Path | None:
    """The source file of module `name` (a package: its __init__.py), or None outside the package."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = ROOT.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def imported(tree: ast.AST, current: str | None = None) -> set[str]:
    """Module names a syntax tree imports (relative imports resolved against `current`, a module name);
    `from a import b` counts `a.b` when that is a module, else `a`."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level and current:
                parts = current.split(".")[: -node.level]
                mod = ".".join(parts + ([mod] if mod else []))
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.add(sub if module_file(sub) else mod)
    return out


def scans_itself(tree: ast.AST) -> bool:
    """A package `__init__` that imports its modules by listing them (pkgutil.iter_modules(__path__))."""
    return any(isinstance(n, ast.Attribute) and n.attr == "iter_modules" for n in ast.walk(tree))


def closure(modules: set[str], trees: list[ast.AST] = ()) -> set[Path]:
    """The files of every `dsah` module reachable from `modules` and from the syntax `trees` (notebook cells)."""
    todo = set(modules)
    for t in trees:
        todo |= imported(t)
    files: set[Path] = set()
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.update(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        f = module_file(name)
        if f is None:
            continue
        files.add(f)
        tree = ast.parse(f.read_text(), str(f))
        todo |= imported(tree, name if f.name != "__init__.py" else name + ".__init__")
        if f.name == "__init__.py" and scans_itself(tree):
            todo.update(f"{name}.{p.stem}" for p in f.parent.glob("*.py") if p.stem != "__init__")
    return files


def notebook_trees(path: Path) -> list[ast.AST]:
    nb = json.loads(path.read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return [ast.parse("\n".join(line for line in c.splitlines() if not line.lstrip().startswith(("%", "!"))))
            for c in cells]


def stage_code(cmds: list[str]) -> tuple[set[Path], set[Path]]:
    """(the package files, the notebooks and scripts) the commands of a stage run."""
    modules, trees, others = set(), [], set()
    for cmd in cmds:
        modules.update(re.findall(r"python -m ([\w.]+)", cmd))
        for nb in re.findall(r"(notebooks/[\w.-]+\.ipynb)", cmd)[:1]:  # the input notebook (the first path)
            others.add(ROOT / nb)
            trees += notebook_trees(ROOT / nb)
    return closure(modules, trees), others


def collapse(files: set[Path]) -> list[str]:
    """Repository-relative paths, a folder of the package standing for its files where every .py file
    under it is among them."""
    rel = {f.relative_to(ROOT) for f in files}
    out: set[Path] = set(rel)
    for d in sorted({p.parent for p in rel}, key=lambda p: len(p.parts)):
        if d == Path(PACKAGE) or not d.is_relative_to(PACKAGE):
            continue
        under = {p.relative_to(ROOT) for p in (ROOT / d).rglob("*.py")}
        if under and under <= rel and not any(a in out for a in d.parents if a != Path(".")):
            out = {p for p in out if not p.is_relative_to(d)} | {d}
    return sorted(str(p) for p in out)


def expected(dvc: dict) -> dict[str, list[str]]:
    """Each stage's code dependencies as its commands imply them."""
    out = {}
    for name, stage in dvc["stages"].items():
        cmds = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
        cmds = [expand(c, dvc.get("vars", [])) for c in cmds]
        pkg, others = stage_code(cmds)
        out[name] = sorted(collapse(pkg) + [str(p.relative_to(ROOT)) for p in others])
    return out


def expand(cmd: str, variables: list) -> str:
    for v in variables:
        if isinstance(v, dict):
            for k, val in v.items():
                cmd = cmd.replace("${" + k + "}", str(val))
    return cmd


def code_deps(stage: dict) -> list[str]:
    """The deps of a stage that are code (the package, notebooks): what `expected` derives."""
    return sorted(d for d in stage.get("deps", []) if d == PACKAGE or d.startswith((PACKAGE + "/", "notebooks/")))


def differences(dvc: dict) -> dict[str, tuple[list[str], list[str]]]:
    """Per stage: (listed but not imported, imported but not listed)."""
    out = {}
    for name, want in expected(dvc).items():
        have = code_deps(dvc["stages"][name])
        extra, missing = sorted(set(have) - set(want)), sorted(set(want) - set(have))
        if extra or missing:
            out[name] = (extra, missing)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.deps", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a stage's deps and its imports disagree")
    ap.add_argument("--dvc", default=str(ROOT / "dvc.yaml"))
    args = ap.parse_args(argv)
    dvc = yaml.safe_load(Path(args.dvc).read_text())
    if not args.check:
        for name, deps in expected(dvc).items():
            print(f"{name}:\n" + "".join(f"  - {d}\n" for d in deps))
        return 0
    diff = differences(dvc)
    for name, (extra, missing) in diff.items():
        if missing:
            print(f"{args.dvc}: stage {name}: imports but does not list {', '.join(missing)}", file=sys.stderr)
        if extra:
            print(f"{args.dvc}: stage {name}: lists but does not import {', '.join(extra)}", file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())

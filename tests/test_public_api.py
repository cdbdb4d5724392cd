"""The public API is `unip_kfp.__all__`: typed, complete, cheap to import, used by the notebook.

A signature with `Any` or `**kwargs` hides from an editor and from mypy what a caller may
pass; an unexported result or error type leaves callers importing internal modules.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import kfp
import pytest

import unip_kfp

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DOCS = sorted((ROOT / "docs").glob("*.md"))
HOOKS = {"prepared"}
"""`Project` members for the steps below it (`launch.Compilable`), not for callers."""
SUBPACKAGES = sorted(p.parent.name for p in (ROOT / "unip_kfp").glob("*/__init__.py"))


def public_callables() -> dict[str, Callable[..., object]]:
    """The exported functions, and every public method and property of `Project`."""
    found: dict[str, Callable[..., object]] = {
        name: value for name in unip_kfp.__all__
        if inspect.isfunction(value := getattr(unip_kfp, name))
    }
    for name, member in vars(unip_kfp.Project).items():
        if name.startswith("_") or name in HOOKS:
            continue
        if isinstance(member, property) and member.fget is not None:
            found[f"Project.{name}"] = member.fget
        elif inspect.isfunction(member):
            found[f"Project.{name}"] = member
    return found


def hints(func: Callable[..., object]) -> dict[str, object]:
    """Resolved annotations; names imported only for type checking are given here."""
    names = {name: getattr(unip_kfp, name) for name in unip_kfp.__all__}
    return typing.get_type_hints(func, localns={**names, "kfp": kfp})


def parts(hint: object) -> Iterator[object]:
    """A hint and everything inside it (Union members, generic arguments)."""
    yield hint
    for arg in typing.get_args(hint):
        if isinstance(arg, list):  # Callable[[str], None]
            for item in arg:
                yield from parts(item)
        else:
            yield from parts(arg)


def test_the_public_callables_are_the_ones_the_api_promises() -> None:
    assert {"load", "run", "attach", "on_kubeflow", "upload", "schedule", "schedules",
            "pause_schedule", "resume_schedule", "delete_schedule", "runs", "Project.run",
            "Project.run_local", "Project.submit", "Project.upload", "Project.schedule",
            "Project.runs", "Project.compile", "Project.components", "Project.pipeline"
            } <= set(public_callables())


@pytest.mark.parametrize("name", sorted(public_callables()))
def test_public_signatures_are_explicit_and_typed(name: str) -> None:
    func = public_callables()[name]
    signature = inspect.signature(func)
    variadic = [p.name for p in signature.parameters.values()
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert variadic == [], f"{name} takes *args/**kwargs: {variadic}"
    resolved = hints(func)
    unannotated = [p for p in signature.parameters if p != "self" and p not in resolved]
    assert unannotated == [] and "return" in resolved, f"{name}: missing annotations"
    for parameter, hint in resolved.items():
        assert typing.Any not in list(parts(hint)), f"{name}({parameter}): Any in {hint}"


def options(func: Callable[..., object]) -> set[str]:
    """A function's options: its parameters but what it acts on and where settings come from."""
    skip = {"self", "target", "project", "access", "config"}
    return {p for p in inspect.signature(func).parameters if p not in skip}


def test_run_mirrors_the_options_of_the_functions_it_chooses_between() -> None:
    """`run` offers every option of `run_local` and `submit`, and each method its function's."""
    from unip_kfp.kubeflow.operate import runs
    from unip_kfp.kubeflow.schedule_steps import apply_schedule as schedule
    from unip_kfp.kubeflow.submission import submit
    from unip_kfp.kubeflow.versions import upload
    from unip_kfp.local.runner import run_local

    assert options(run_local) == options(unip_kfp.Project.run_local)
    assert options(submit) == options(unip_kfp.Project.submit)
    assert options(upload) == options(unip_kfp.Project.upload) == options(unip_kfp.upload)
    assert options(schedule) == options(unip_kfp.Project.schedule) == options(unip_kfp.schedule)
    assert options(runs) == options(unip_kfp.Project.runs) == options(unip_kfp.runs)
    assert options(run_local) | options(submit) <= options(unip_kfp.run)
    assert options(unip_kfp.run) - {"config"} == options(unip_kfp.Project.run)


def test_schedule_functions_mirror_the_ones_doing_the_work() -> None:
    """Each exported schedule function offers exactly the options of the internal one."""
    from unip_kfp.kubeflow import operate

    access = {"client", "host", "namespace", "token", "token_file", "ca_cert"}
    for name in ("schedules", "pause_schedule", "resume_schedule", "delete_schedule", "attach"):
        public, internal = getattr(unip_kfp, name), getattr(operate, name)
        assert options(public) == options(internal), name
        assert access <= options(public), name
        assert "config" in inspect.signature(public).parameters, name


def test_what_the_api_returns_is_exported() -> None:
    """Every class a public callable returns (inside lists and unions too) is in `__all__`."""
    exported = {id(getattr(unip_kfp, name)) for name in unip_kfp.__all__}
    builtin = {str, int, float, bool, type(None), list, tuple, dict}
    missing = set()
    for name, func in public_callables().items():
        for part in parts(hints(func)["return"]):
            if isinstance(part, type) and part not in builtin and id(part) not in exported:
                missing.add(f"{name} -> {part.__module__}.{part.__qualname__}")
    assert missing == set()


def test_every_error_the_api_raises_is_exported() -> None:
    errors = {getattr(unip_kfp, n) for n in unip_kfp.__all__
              if isinstance(getattr(unip_kfp, n), type)
              and issubclass(getattr(unip_kfp, n), Exception)}
    from unip_kfp.kubeflow.logs import LogsUnavailable
    from unip_kfp.kubeflow.server_errors import KubeflowUnavailable
    from unip_kfp.local.result import StageFailedError

    assert {StageFailedError, KubeflowUnavailable, LogsUnavailable} <= errors
    assert all(issubclass(e, unip_kfp.UnipKfpError) for e in errors)


def test_every_export_resolves_and_dir_lists_it() -> None:
    for name in unip_kfp.__all__:
        assert getattr(unip_kfp, name) is not None
        assert name in dir(unip_kfp)
    with pytest.raises(AttributeError):
        unip_kfp.no_such_name  # noqa: B018


def test_importing_the_api_and_its_types_imports_no_kfp() -> None:
    """kfp comes in only with a run or a compile: not with `import unip_kfp`, nor with the
    result and error types a caller names in an `except` or a type hint."""
    script = """
import json, sys
import unip_kfp
from unip_kfp import Project, RunHandle, Upload, load, run
kfp = lambda: sorted(m for m in sys.modules if m == "kfp" or m.startswith("kfp."))
before = kfp()
unip_kfp.LocalRunResult, unip_kfp.StageFailedError, unip_kfp.Applied, unip_kfp.Logs
types = kfp()
unip_kfp.load("examples/train-test/manifests").compile()
print(json.dumps([before, types, bool(kfp())]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    before, types, compiled = json.loads(done.stdout)
    assert (before, types, compiled) == ([], [], True)


def test_internal_subpackages_say_so_first() -> None:
    for name in SUBPACKAGES:
        module = __import__(f"unip_kfp.{name}", fromlist=["_"])
        first = (module.__doc__ or "").splitlines()[0]
        assert first.startswith("Internal:") and "unip_kfp" in first, name


def test_the_readme_says_the_public_api_is_all() -> None:
    section = (ROOT / "README.md").read_text().split("### From Python", 1)[1].split("\n## ")[0]
    assert "unip_kfp.__all__" in section
    assert "from unip_kfp." not in section  # nothing from an internal module
    assert not re.search(r"unip_kfp\.[a-z_]+\.[a-z_]+\(", section), "an internal function"


def code_names(source: str) -> set[str]:
    """Every `unip_kfp` name Python code uses: `unip_kfp.X`, `from unip_kfp[.m] import`."""
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unip_kfp"):
            prefix = "" if node.module == "unip_kfp" else f"{node.module}:"
            used |= {prefix + alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            used |= {f"import {a.name}" for a in node.names
                     if a.name.startswith("unip_kfp.")}
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "unip_kfp"):
            used.add(node.attr)
    return used


def notebook_names(path: Path) -> set[str]:
    """Every `unip_kfp` name a notebook's code cells use."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    return code_names("\n".join("".join(c["source"]) for c in cells))


def doc_names(text: str) -> set[str]:
    """Every `unip_kfp` name a Markdown page uses: in its python blocks, and `unip_kfp.X` (or
    `from unip_kfp.m import`) anywhere in its prose; `unip_kfp/m.py` paths are not Python."""
    blocks = re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S)
    used = set().union(*(code_names(b) for b in blocks)) if blocks else set()
    used |= set(re.findall(r"\bunip_kfp\.(\w+)", text))
    used |= {f"{m}:" for m in re.findall(r"\bfrom (unip_kfp\.[\w.]+) import", text)}
    return used


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_use_only_exported_names(path: Path) -> None:
    used = notebook_names(path)
    assert used, "the notebook uses unip_kfp"
    assert used <= set(unip_kfp.__all__), sorted(used - set(unip_kfp.__all__))


def test_the_notebook_check_sees_internal_imports(tmp_path: Path) -> None:
    notebook = tmp_path / "n.ipynb"
    source = ("import unip_kfp\nfrom unip_kfp.kubeflow import submit\nimport unip_kfp.local\n"
              "unip_kfp.load('x'); unip_kfp.target")
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": [source]}]}))
    assert notebook_names(notebook) == {"unip_kfp.kubeflow:submit", "import unip_kfp.local",
                                        "load", "target"}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_use_only_exported_names(path: Path) -> None:
    used = doc_names(path.read_text()) - {"__all__"}  # "the API is `unip_kfp.__all__`"
    assert used <= set(unip_kfp.__all__), sorted(used - set(unip_kfp.__all__))


def test_the_docs_check_sees_internal_names() -> None:
    text = ("Call `unip_kfp.kubeflow.schedules()` or `unip_kfp.schedules(host=H)`; see\n"
            "`unip_kfp/kubeflow/operate.py`, `from unip_kfp.kubeflow import submit`.\n"
            "```python\nimport unip_kfp\nfrom unip_kfp import load, Secret\n```\n")
    assert doc_names(text) == {"kubeflow", "schedules", "unip_kfp.kubeflow:", "load", "Secret"}

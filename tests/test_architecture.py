"""The package's shape: data flows one way, and the import graph says so.

The flow is manifests -> checks -> plan -> compile -> launch -> local | kubeflow -> project
-> cli (README "Architecture"). Every import of the package's own modules is read from the
source (top level, inside functions, under TYPE_CHECKING: a type hint is a dependency too),
and the graph must have no cycle and no edge back up the flow.
"""

from __future__ import annotations

import ast
import graphlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "unip_kfp"
README = PACKAGE.parent / "README.md"

# The flow, first to last. A module may import its own unit (a subpackage, or a top-level
# module) and any unit of an earlier layer; units of one layer are siblings that never
# import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "naming", "ordering"),  # shared words: errors, names, dependency order
    ("manifests",),
    ("checks",),
    ("plan",),
    ("compile", "views"),
    ("launch", "s3"),
    ("local", "kubeflow"),
    ("project",),
    ("unip_kfp", "authoring"),  # `unip_kfp` is the package's own __init__: the public API
    ("cli",),
    ("__main__",),
)


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (`compile.pipeline`; `unip_kfp` for root)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] == "templates":  # the scaffold's files, not modules of the package
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or "unip_kfp"] = path
    return found


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom,
              known: Iterable[str]) -> set[str]:
    known = set(known)
    if isinstance(node, ast.Import):
        wanted = [a.name for a in node.names]
        return {w.removeprefix("unip_kfp.") for w in wanted
                if w.startswith("unip_kfp.") and w.removeprefix("unip_kfp.") in known}
    if node.level == 0:
        if node.module is None or not (node.module + ".").startswith("unip_kfp."):
            return set()
        base = node.module.removeprefix("unip_kfp").lstrip(".")
    else:
        here = [] if name == "unip_kfp" else name.split(".")
        package = here if path.name == "__init__.py" else here[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    found: set[str] = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}" if base else alias.name
        if submodule in known:  # `from . import graph`: the submodule, not its package
            found.add(submodule)
        else:
            found.add(base or "unip_kfp")
    return found & (known | {"unip_kfp"})


def import_graph(files: Mapping[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its source."""
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(name, path, node, files)
        edges.discard(name)
        graph[name] = edges
    return graph


def unit_of(module: str) -> str:
    return module.split(".")[0]


def layer_of(module: str) -> int:
    unit = unit_of(module)
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise LookupError(f"{module} belongs to no layer: add its unit to LAYERS and README")


def violations(graph: Mapping[str, set[str]]) -> list[str]:
    """Every edge that runs back up the flow or between siblings of one layer."""
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if unit_of(source) == unit_of(target):
                continue
            if layer_of(target) >= layer_of(source):
                found.append(f"{source} imports {target}")
    return found


def cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


GRAPH = import_graph(module_files())


def test_every_module_has_a_place_in_the_flow() -> None:
    for module in GRAPH:
        layer_of(module)


def test_no_import_runs_back_up_the_flow() -> None:
    assert violations(GRAPH) == []


def test_the_package_has_no_import_cycle() -> None:
    assert cycle(GRAPH) is None


def test_the_checks_catch_what_they_are_for() -> None:
    """The checks above would fail on a cycle, on an upward edge and on a sibling edge."""
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert violations({"plan.build": {"compile.pipeline"}}) == [
        "plan.build imports compile.pipeline"
    ]
    assert violations({"views.graph": {"compile.package"}}) == [
        "views.graph imports compile.package"
    ]
    assert violations({"compile.pipeline": {"plan.model", "compile.components"}}) == []


def test_the_reader_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .plan.model import Stage\n"
        "def f():\n    from . import project\n    from .compile import package\n"
    )
    graph = import_graph({"late": module, "plan.model": module, "project": module,
                          "compile.package": module, "compile": module})
    assert graph["late"] == {"plan.model", "project", "compile.package"}


def test_readme_architecture_names_every_unit_of_the_tree() -> None:
    """README's tree is the package's tree: every subpackage and top-level module, no other."""
    section = README.read_text(encoding="utf-8").split("## Architecture", 1)[1]
    section = section.split("\n## ", 1)[0]
    named = set(re.findall(r"^\s*[│├└─ ]*([a-z0-9_]+)(?:/|\.py)\s", section, re.M)) - {"unip_kfp"}
    units = {unit_of(m) for m in GRAPH} - {"unip_kfp", "__main__"}
    assert named == units


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_module_size_limit(module: str) -> None:
    """Modules stay under 400 lines, functions under 50; a longer one says why in a comment."""
    path = module_files()[module]
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if len(lines) > 400:
        assert "size-limit:" in "\n".join(lines[:30]), f"{path}: {len(lines)} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > 50:
                head = "\n".join(lines[node.lineno - 1: node.lineno + 8])
                assert "size-limit:" in head, f"{path}:{node.lineno} {node.name}: {length} lines"


def test_no_test_module_imports_another() -> None:
    """Tests share through `conftest.py` (fixtures) and `support/` (servers, helpers) only."""
    tests = Path(__file__).resolve().parent
    local = {p.stem for p in tests.glob("*.py")} | {p.name for p in tests.iterdir() if p.is_dir()}
    found = []
    for path in sorted([*tests.glob("*.py"), *tests.glob("support/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top in local and top != "support":
                    found.append(f"{path.relative_to(tests)} imports {name}")
    assert found == []

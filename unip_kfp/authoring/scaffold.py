"""`unip-kfp init`: a new UNIP module that validates and runs locally as it is.

The module comes from the package data `templates/module/` (manifests, stage scripts that
follow the platform contract, a data sample, a Dockerfile, a README, a commented
`unip-kfp.yaml`), with the module's name and namespace filled in, plus the JSON Schemas its
manifests point to. Before anything is written the module is built in a scratch folder and
planned, which checks it and draws the Mermaid graph its README embeds. Then every file is
created exclusively: an existing file is never overwritten, and if any exists nothing is
written at all.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import UsageError
from ..manifests import json_schemas
from ..naming import is_dns1123_label
from ..views import graph

TEMPLATE = "templates/module"
MAX_NAME = 49  # `<name>-pipelines-api` must stay a DNS-1123 label (<= 63 characters)
VALIDATE = "unip-kfp validate manifests"
RUN = "unip-kfp run manifests -i dataset=./data/dataset.csv -i threshold=2.5 -o results=./results"
COMMANDS = (VALIDATE, RUN)
_DOTFILE = "dot-"  # templates/module/dot-gitignore -> .gitignore (package data skips dotfiles)


@dataclass(frozen=True)
class Created:
    """What `create_module` wrote."""

    folder: str
    name: str
    namespace: str
    files: tuple[str, ...]  # relative paths, sorted
    commands: tuple[str, ...] = COMMANDS


def module_name(folder: str, name: str | None) -> str:
    """`--name`, else the folder's name made a DNS-1123 label; a usage error if neither is."""
    if name is None:
        base = os.path.basename(os.path.abspath(folder))
        guess = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:MAX_NAME].strip("-")
        if not guess:
            raise UsageError(f"cannot make a module name of '{base}': give --name NAME")
        name = guess
    if not is_dns1123_label(name):
        raise UsageError(
            f"--name '{name}' is not a valid name: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if len(name) > MAX_NAME:
        raise UsageError(f"--name '{name}' is too long: at most {MAX_NAME} characters")
    return name


def create_module(folder: str, name: str | None = None, namespace: str | None = None) -> Created:
    """Write a new module into `folder` (new or without any of the module's files)."""
    name = module_name(folder, name)
    namespace = name if namespace is None else namespace
    if not is_dns1123_label(namespace):
        raise UsageError(
            f"--namespace '{namespace}' is not a valid namespace: lower-case letters, digits "
            "and '-', at most 63 characters (the application's name on the platform)"
        )
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{folder} exists and is not a folder")
    files = module_files(name, namespace)
    taken = sorted(path for path in files if os.path.lexists(os.path.join(folder, path)))
    if taken:
        raise UsageError(
            f"init never overwrites: {', '.join(taken)} already exist in {folder}; nothing "
            "was written (move them away, or choose another folder)"
        )
    _write_all(folder, files)
    return Created(folder, name, namespace, tuple(sorted(files)))


def module_files(name: str, namespace: str) -> dict[str, bytes]:
    """Every file of the module by relative path (`/`-separated), contents filled in."""
    values = {"name": name, "namespace": namespace, "validate": VALIDATE, "run": RUN}
    files: dict[str, bytes] = {}
    for path, template in _templates():
        if path == "README.md":
            continue
        files[path] = _fill(template.read_text("utf-8"), values, path).encode("utf-8")
    for file_name, text in json_schemas.schema_files().items():
        files[f"schemas/{file_name}"] = text.encode("utf-8")
    values["graph"] = _mermaid_of(files)
    readme = resources.files("unip_kfp").joinpath(f"{TEMPLATE}/README.md").read_text("utf-8")
    files["README.md"] = _fill(readme, values, "README.md").encode("utf-8")
    return files


def _templates(folder: Any = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(relative path, template) of every file under templates/module/, dotfiles renamed."""
    folder = folder or resources.files("unip_kfp").joinpath(TEMPLATE)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        target = (
            "." + entry.name[len(_DOTFILE) :] if entry.name.startswith(_DOTFILE) else entry.name
        )
        if entry.is_dir():
            yield from _templates(entry, f"{prefix}{target}/")
        else:
            yield f"{prefix}{target}", entry


def _fill(text: str, values: dict[str, str], path: str) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = re.findall(r"\{\{\w+\}\}", text)
    assert not left, f"template {path} has unfilled {left}"
    return text


def _mermaid_of(files: dict[str, bytes]) -> str:
    """Plan the module in a scratch folder (a check that it is valid) and draw its graph."""
    from ..project import load

    with tempfile.TemporaryDirectory(prefix="unip-kfp-init-") as scratch:
        _write_all(scratch, {p: c for p, c in files.items() if p.startswith("manifests/")})
        _write_all(scratch, {"unip-kfp.yaml": files["unip-kfp.yaml"]})
        plan = load(os.path.join(scratch, "manifests")).pipeline()
    return graph.to_mermaid(graph.build(plan))


def _write_all(folder: str, files: dict[str, bytes]) -> None:
    """Create every file exclusively (mode `x`): a file that appeared meanwhile is kept."""
    for path, content in sorted(files.items()):
        target = os.path.join(folder, *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            with open(target, "xb") as handle:
                handle.write(content)
        except FileExistsError:
            raise UsageError(f"init never overwrites: {target} appeared while writing") from None


__all__ = ["COMMANDS", "Created", "create_module", "module_files", "module_name"]

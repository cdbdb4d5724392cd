"""`-i NAME=VALUE` for a local run, checked before anything runs (`-o`: `destinations.py`).

Inputs follow the shared rule of `launch/arguments.py`, with the plan of what runs: the manifests'
plan, or the one `launch.prepared` rebuilds from a package file (file inputs found
structurally). A local path becomes `file://<absolute path>`, a URI passes through, a
box-relative path becomes the full URI a Kubeflow run would get (`arguments.box_uri`; a
package file knows no default box, so it refuses them), a value datatype its parsed value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from ..errors import UsageError
from ..launch import arguments
from ..plan.model import Kind, PipelinePlan
from .data import file_uri
from .package_reader import Package

__all__ = ["RunArguments", "run_arguments"]


@dataclass(frozen=True)
class RunArguments:
    """Root parameter values (given or default) and which parameters are file URIs."""

    values: dict[str, Any]
    file_parameters: frozenset[str]
    labels: dict[str, str]
    """Parameter name -> the name the caller knows (the manifest var name)."""


def run_arguments(package: Package, plan: PipelinePlan, given: Mapping[str, Any]) -> RunArguments:
    """Parse `-i`: unknown names, missing required inputs and missing local files are errors."""
    definitions = package.root.input_definitions.parameters
    values, files, labels = _from_plan(plan, given)
    for name in values:
        if name not in definitions:
            raise UsageError(
                f"input '{labels.get(name, name)}' is not a parameter of the package "
                f"'{package.name}'; recompile it from the manifests"
            )
    missing = []
    for name, spec in definitions.items():
        if name in values:
            continue
        if spec.HasField("default_value"):
            values[name] = json_format.MessageToDict(spec.default_value)
        elif not spec.is_optional:
            missing.append(labels.get(name, name))
    if missing:
        raise UsageError(
            f"pipeline '{package.name}' needs input(s) {', '.join(missing)}: pass "
            + " ".join(f"-i {m}=PATH_OR_VALUE" for m in missing)
        )
    return RunArguments(values, frozenset(files), labels)


def _from_plan(
    plan: PipelinePlan, given: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    parsed = arguments.parse_inputs(plan, given)
    values: dict[str, Any] = {}
    for item in parsed.values():
        label = arguments.input_label(item.variable.name, item.value)
        if item.form == "value":
            values[item.param] = item.value
        elif item.form == "local":
            values[item.param] = _local_uri(label, item.value)
        elif item.form == "box":
            values[item.param] = arguments.box_uri(plan, item.value)
        else:
            values[item.param] = item.value
    files = {v.param for v in plan.inputs if v.kind is Kind.FILE}
    labels = {v.param: v.name for v in plan.variables}
    return values, files, labels


def _local_uri(label: str, path: str) -> str:
    if not os.path.lexists(path):
        raise UsageError(f"{label}: no such file or folder: {path}")
    return file_uri(path)

"""`-i NAME=VALUE` and `-o NAME=DEST` for a local run, checked before anything runs.

With the manifests' plan, inputs follow the shared rule of `runargs.py`: a local path
becomes `file://<absolute path>`, a URI passes through, a box-relative path becomes the
full URI a Kubeflow run would get (`runargs.box_uri`), a value datatype its parsed value.
With only a package file, a root STRING parameter that feeds an importer's URI is a file
input (found structurally, see `Package.file_parameters`), every other parameter is a
value parsed by its type, and box-relative paths cannot be resolved (they need the plan).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from .. import runargs
from ..errors import UsageError
from ..loader import did_you_mean
from ..naming import io_name
from ..plan import Kind, PipelinePlan
from .data import file_uri
from .package import Package

__all__ = ["RunArguments", "output_destinations", "run_arguments"]

_TYPES = pb.ParameterType.ParameterTypeEnum


@dataclass(frozen=True)
class RunArguments:
    """Root parameter values (given or default) and which parameters are file URIs."""

    values: dict[str, Any]
    file_parameters: frozenset[str]
    labels: dict[str, str]
    """Parameter name -> the name the caller knows (the manifest var name)."""


def run_arguments(
    package: Package, plan: PipelinePlan | None, given: Mapping[str, str]
) -> RunArguments:
    """Parse `-i`: unknown names, missing required inputs and missing local files are errors."""
    definitions = package.root.input_definitions.parameters
    if plan is not None:
        values, files, labels = _from_plan(plan, given)
    else:
        values, files, labels = _from_package(package, given)
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
    plan: PipelinePlan, given: Mapping[str, str]
) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    parsed = runargs.parse_inputs(plan, given)
    values: dict[str, Any] = {}
    for item in parsed.values():
        label = f"-i {item.variable.name}"
        if item.kind == "value":
            values[item.param] = item.value
        elif item.kind == "local":
            values[item.param] = _local_uri(label, item.value)
        elif item.kind == "box":
            values[item.param] = runargs.box_uri(plan, item.value)
        else:
            values[item.param] = item.value
    files = {v.param for v in plan.inputs if v.kind is Kind.FILE}
    labels = {v.param: v.name for v in plan.variables}
    return values, files, labels


def _from_package(
    package: Package, given: Mapping[str, str]
) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    definitions = package.root.input_definitions.parameters
    files = package.file_parameters()
    values: dict[str, Any] = {}
    for name, raw in given.items():
        param = _find(name, list(definitions), "an input", package.name)
        label = f"-i {name}"
        if param in files:
            kind = runargs.classify(raw)
            if kind == "box":
                raise UsageError(
                    f"{label}={raw}: a box-relative path needs the manifests (to know the "
                    "box and the user); run the manifests folder instead of the package, or "
                    "pass a local path (./...) or a full URI"
                )
            values[param] = (
                _local_uri(label, os.path.abspath(os.path.expanduser(raw)))
                if kind == "local"
                else raw
            )
        else:
            values[param] = _parse_value(label, raw, definitions[param].parameter_type)
    return values, files, {}


def _local_uri(label: str, path: str) -> str:
    if not os.path.lexists(path):
        raise UsageError(f"{label}: no such file or folder: {path}")
    return file_uri(path)


def _parse_value(label: str, raw: str, kind: int) -> Any:
    try:
        if kind == _TYPES.NUMBER_DOUBLE:
            return float(raw)
        if kind == _TYPES.NUMBER_INTEGER:
            return int(raw)
        if kind == _TYPES.BOOLEAN:
            lowered = raw.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError("not true/false")
            return lowered in ("true", "1")
        if kind in (_TYPES.STRUCT, _TYPES.LIST):
            parsed = json.loads(raw)
            wanted = dict if kind == _TYPES.STRUCT else list
            if not isinstance(parsed, wanted):
                raise ValueError(f"not a JSON {'object' if wanted is dict else 'array'}")
            return parsed
    except ValueError as exc:
        type_name = _TYPES.Name(kind) if kind in _TYPES.values() else str(kind)
        raise UsageError(f"{label}={raw}: expected {type_name} ({exc})") from None
    return raw


def _find(name: str, choices: list[str], what: str, pipeline: str) -> str:
    for candidate in (name, io_name(name)):
        if candidate in choices:
            return candidate
    guess = did_you_mean(name, choices)
    raise UsageError(
        f"'{name}' is not {what} of pipeline '{pipeline}'"
        + (f"; did you mean '{guess}'?" if guess else f" ({what}s: {', '.join(choices) or 'none'})")
    )


def output_destinations(
    package: Package,
    plan: PipelinePlan | None,
    given: Mapping[str, str],
    *,
    force: bool,
    protected: tuple[str, ...],
) -> dict[str, str]:
    """`-o`: output key -> absolute destination, refusing what the copy would damage.

    A destination that exists must be a folder, and an empty one unless `force`; it may
    never contain one of the `protected` folders (the module folder, the run folder),
    which `force` would otherwise replace.
    """
    outputs = list(package.root.output_definitions.artifacts)
    if plan is not None:
        by_var = runargs.parse_outputs(plan, given)
        chosen = {plan.variable(var).param: dest for var, dest in by_var.items()}
    else:
        chosen = {_find(name, outputs, "an output", package.name): d for name, d in given.items()}
    result: dict[str, str] = {}
    for key, raw in chosen.items():
        if key not in outputs:
            raise UsageError(f"-o {key}: not an output of the package; recompile it")
        dest = os.path.abspath(os.path.expanduser(raw))
        label = f"-o {key}={raw}"
        if dest in result.values():
            raise UsageError(f"{label}: another output is copied to the same folder")
        for folder in protected:
            inner = os.path.abspath(folder)
            if inner == dest or inner.startswith(dest.rstrip(os.sep) + os.sep):
                raise UsageError(f"{label}: {dest} holds {inner}; choose another folder")
        if os.path.lexists(dest):
            if not os.path.isdir(dest):
                raise UsageError(f"{label}: {dest} exists and is not a folder")
            if os.listdir(dest) and not force:
                raise UsageError(
                    f"{label}: {dest} is not empty; choose an empty or new folder, "
                    "or pass --force to replace it"
                )
        result[key] = dest
    return result

"""One rule for `-i NAME=VALUE` and `-o NAME=DEST`, shared by local runs and Kubeflow runs.

A value starting with `/`, `./`, `../` or `~` is a local path; `scheme://...` is a URI;
anything else is a box-relative file-API path (`<default box>/users/<user>/file_groups/p`).
Value datatypes (INT32, dict, ...) take the literal value instead, parsed and checked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .loader import did_you_mean
from .plan import Kind, PipelinePlan, Variable
from .roles import Role

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class InputValue:
    """A caller's input, classified: `local` path, `uri`, `box` path, or typed `value`."""

    variable: Variable
    kind: str  # "local" | "uri" | "box" | "value"
    value: Any  # absolute path | URI | relative path | float/int/dict/str

    @property
    def param(self) -> str:
        return self.variable.param


def classify(raw: str) -> str:
    """The `-i` rule for file inputs: local path, URI, or box-relative path."""
    if raw.startswith(("/", "./", "../", "~")) or raw in (".", ".."):
        return "local"
    if _URI.match(raw):
        return "uri"
    return "box"


def find_variable(plan: PipelinePlan, name: str, roles: tuple[Role, ...], what: str) -> Variable:
    """A variable by manifest name or KFP parameter name, with a "did you mean" when unknown."""
    for var in plan.variables:
        if var.role in roles and name in (var.name, var.param):
            return var
    choices = [v.name for v in plan.variables if v.role in roles]
    guess = did_you_mean(name, choices)
    raise UsageError(
        f"'{name}' is not {what} of pipeline '{plan.name}'"
        + (f"; did you mean '{guess}'?" if guess else f" ({what}s: {', '.join(choices) or 'none'})")
    )


def parse_value(var: Variable, raw: str) -> Any:
    """A literal for a value datatype, checked the way the platform's API would check it."""
    try:
        if var.kind is Kind.FLOAT:
            return float(raw)
        if var.kind is Kind.INT:
            number = int(raw)
            if not INT32_MIN <= number <= INT32_MAX:
                raise ValueError("outside the INT32 range")
            return number
        if var.kind is Kind.DICT:
            parsed = json.loads(raw)
            if not isinstance(parsed, dict):
                raise ValueError("not a JSON object")
            return parsed
    except ValueError as exc:
        raise UsageError(f"-i {var.name}={raw}: expected {var.kind.value} ({exc})") from None
    return raw


def parse_inputs(plan: PipelinePlan, given: Mapping[str, str]) -> dict[str, InputValue]:
    """Classify every `-i`; refuse unknown names and missing required inputs before running."""
    result: dict[str, InputValue] = {}
    for name, raw in given.items():
        var = find_variable(plan, name, (Role.INPUT,), "an input")
        if var.kind is not Kind.FILE:
            result[var.name] = InputValue(var, "value", parse_value(var, raw))
            continue
        kind = classify(raw)
        if kind == "box" and not raw.strip("/"):
            raise UsageError(f"-i {name}=: empty path")
        value = os.path.abspath(os.path.expanduser(raw)) if kind == "local" else raw
        result[var.name] = InputValue(var, kind, value)
    missing = [v.name for v in plan.inputs if v.required and v.name not in result]
    if missing:
        raise UsageError(
            f"pipeline '{plan.name}' needs input(s) {', '.join(missing)}: pass "
            + " ".join(f"-i {m}=PATH_OR_VALUE" for m in missing)
        )
    return result


def box_uri(plan: PipelinePlan, relative: str) -> str:
    """The full URI of a file-API path in the default box (as the platform's file API does)."""
    root = plan.file_api_root()
    if root is None:
        raise UsageError(
            f"'{relative}' is a box path, but pipeline '{plan.name}' has no default box; "
            "pass a local path (./...) or a full URI"
        )
    return f"{root}/{relative.strip('/')}"


def parse_outputs(plan: PipelinePlan, given: Mapping[str, str]) -> dict[str, str]:
    """`-o NAME=DEST` by manifest var name; only pipeline outputs can be fetched."""
    return {
        find_variable(plan, name, (Role.OUTPUT,), "an output").name: dest
        for name, dest in given.items()
    }


def check_local_destinations(destinations: Iterable[str], *, force: bool) -> None:
    """Refuse, before anything runs, a local `-o` folder that is not empty (unless forced)."""
    for dest in destinations:
        if classify(dest) != "local" and not os.path.isabs(dest):
            continue  # a box path or URI: checked by the transfer itself
        path = os.path.expanduser(dest)
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"-o {dest}: exists and is not a folder")
        if os.path.isdir(path) and os.listdir(path) and not force:
            raise UsageError(f"-o {dest}: folder is not empty; choose another or pass --force")

"""One rule for `-i NAME=VALUE` and `-o NAME=DEST`, shared by local runs and Kubeflow runs.

A value starting with `/`, `./`, `../` or `~` is a local path; `scheme://...` is a URI;
anything else is a box-relative file-API path (`<default box>/users/<user>/file_groups/p`).
Value datatypes (INT32, dict, ...) take the literal value instead, parsed and checked.
One rule for the CLI and Python (`run_local`, `submit`): the same types and checks, only
the names in messages differ (`-i x` on the command line, `inputs['x']` from Python).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..checks.roles import Role
from ..errors import UsageError, did_you_mean
from ..plan.model import Kind, PipelinePlan, Variable

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CLI: contextvars.ContextVar[bool] = contextvars.ContextVar("unip_kfp_cli", default=False)
_UNSET: Any = object()
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

InputArgument: TypeAlias = str | os.PathLike[str] | int | float | dict[str, object] | None
"""One input as Python code gives it: a path or URI (`str`; an `os.PathLike` is always a
local path), a number, a dict (JSON object) or text for a value input; None: not given."""
OutputDestination: TypeAlias = str | os.PathLike[str]
"""Where an output goes (`-o`): a local folder, a `scheme://` URI or a box-relative path."""


@dataclass(frozen=True)
class InputValue:
    """A caller's input, classified: `local` path, `uri`, `box` path, or typed `value`."""

    variable: Variable
    form: str  # how it was given: "local" | "uri" | "box" | "value"
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


def parse_value(var: Variable, raw: Any) -> Any:
    """A value for a value datatype, checked the way the platform's API would check it.

    Text (the command line's, or a caller's) is parsed; other values must already have
    the type: int for INT32 (a float or bool is refused, never rounded), int or float for
    FP32/FP64 (finite; FP32 within its range), a dict for dict, str for str.
    """
    label = input_label(var.name, raw)
    try:
        if var.kind is Kind.INT:
            return _integer(raw)
        if var.kind is Kind.FLOAT:
            return _number(raw, single="FP32" in var.datatypes and "FP64" not in var.datatypes)
        if var.kind is Kind.DICT:
            return _mapping(raw)
        if not isinstance(raw, str):
            raise ValueError(f"got {_type(raw)}")
        return raw
    except ValueError as exc:
        expected = _EXPECTED.get(var.kind, var.kind.value)
        raise UsageError(f"{label}: expected {expected} ({exc})") from None


_EXPECTED = {
    Kind.INT: "an INT32 integer",
    Kind.FLOAT: "a finite number",
    Kind.DICT: "a dict (a JSON object)",
    Kind.STR: "a str",
}
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
FP32_MAX = 3.4028234663852886e38


def _integer(raw: Any) -> int:
    if isinstance(raw, str):
        if not _INTEGER.match(raw.strip()):
            raise ValueError("not a whole number")
        number = int(raw)
    elif isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        number = int(raw)
    else:
        raise ValueError(f"got {_type(raw)}; no silent conversion")
    if not INT32_MIN <= number <= INT32_MAX:
        raise ValueError("outside the INT32 range")
    return number


def _number(raw: Any, *, single: bool) -> float:
    if isinstance(raw, str):
        if not _DECIMAL.match(raw.strip()):
            raise ValueError("not a decimal number")
        number = float(raw)
    elif isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        try:
            number = float(raw)
        except OverflowError:
            raise ValueError("too large") from None
    else:
        raise ValueError(f"got {_type(raw)}; no silent conversion")
    if not math.isfinite(number):
        raise ValueError("infinite, NaN or too large")
    if single and abs(number) > FP32_MAX:
        raise ValueError("outside the FP32 range, ±3.4e38")
    return number


def _mapping(raw: Any) -> dict[str, Any]:
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object" if isinstance(raw, str) else f"got {_type(raw)}")
    try:
        json.dumps(parsed, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON data: {exc}") from None
    return parsed


def _type(raw: Any) -> str:
    return f"the {type(raw).__name__} {raw!r}"


def parse_inputs(plan: PipelinePlan, given: Mapping[str, Any]) -> dict[str, InputValue]:
    """Classify every input; refuse unknown names and missing required inputs before running.

    File inputs take a str (the `-i` rule) or an `os.PathLike` (always a local path); a
    value of None means "not given".
    """
    result: dict[str, InputValue] = {}
    for name, raw in given.items():
        if raw is None:
            continue
        var = find_variable(plan, name, (Role.INPUT,), "an input")
        if var.kind is not Kind.FILE:
            result[var.name] = InputValue(var, "value", parse_value(var, raw))
            continue
        if isinstance(raw, os.PathLike):
            raw = os.fspath(raw)
            form = "local"
        elif isinstance(raw, str):
            form = classify(raw)
        else:
            raise UsageError(
                f"{input_label(name, raw)}: expected a path or URI (str or os.PathLike), "
                f"got {_type(raw)}"
            )
        if form == "box" and not raw.strip("/"):
            raise UsageError(f"{input_label(name, raw)}: empty path")
        value = os.path.abspath(os.path.expanduser(raw)) if form == "local" else raw
        result[var.name] = InputValue(var, form, value)
    missing = [v.name for v in plan.inputs if v.required and v.name not in result]
    if missing:
        raise UsageError(f"pipeline '{plan.name}' needs input(s) {', '.join(missing)}: " + (
            "pass " + " ".join(f"-i {m}=PATH_OR_VALUE" for m in missing) if _CLI.get()
            else "give " + ", ".join(f"inputs['{m}']" for m in missing)))
    return result


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within it, messages name inputs and outputs as the CLI does (`-i x`, `-o y`)."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def input_label(name: str, raw: Any = _UNSET) -> str:
    """`-i name=value` on the command line, `inputs['name']` from Python."""
    if _CLI.get():
        return f"-i {name}" + ("" if raw is _UNSET else f"={raw}")
    return f"inputs[{name!r}]" + ("" if raw is _UNSET else f" = {raw!r}")


def output_label(name: str, raw: Any = _UNSET) -> str:
    """`-o name=dest` on the command line, `outputs['name']` from Python."""
    if _CLI.get():
        return f"-o {name}" + ("" if raw is _UNSET else f"={raw}")
    return f"outputs[{name!r}]" + ("" if raw is _UNSET else f" = {raw!r}")


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

"""Resolve the placeholders of a container's command and args, as the KFP 2.17 backend does.

Strings may embed `{{$.inputs.artifacts['x'].path}}`, `.uri`, `{{$.outputs.artifacts['y'].path}}`,
`{{$.inputs.parameters['p']}}` and the job/task name placeholders. Whole elements may be
the JSON forms `{"IfPresent": {"InputName": ..., "Then": [...], "Else": [...]}}` and
`{"Concat": [...]}` (as strings or, nested, as objects). Parameter values are written as
the 2.17 driver's `pbValueToString` writes them, so a stage sees the same text here as
in a pod: strings as is, integral numbers with `%d`, other numbers like Go's `%g`,
booleans `true`/`false`, null as `""`, structs and lists as Go's `json.Marshal` output
(compact, keys sorted, `<>&` escaped).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .data import Artifact

__all__ = ["PlaceholderError", "TaskPlaceholders", "go_json", "serialize_parameter"]


class PlaceholderError(ValueError):
    """A placeholder the local runner cannot resolve (unknown, or its input is missing)."""


_PLACEHOLDER = re.compile(r"\{\{\$(?P<body>[^{}]*)\}\}")
_IO = re.compile(
    r"^\.(?P<side>inputs|outputs)\.(?P<what>artifacts|parameters)\['(?P<name>[^']*)'\]"
    r"(?:\.(?P<attr>[A-Za-z_]+))?$"
)
_STRUCTURED = {"IfPresent", "Concat"}
_STRUCTURED_PREFIXES = ('{"IfPresent"', '{"Concat"')


@dataclass(frozen=True)
class TaskPlaceholders:
    """What one container task's placeholders resolve to."""

    parameters: Mapping[str, Any]
    input_artifacts: Mapping[str, Artifact]
    output_artifacts: Mapping[str, Artifact]
    names: Mapping[str, str] = field(default_factory=dict)
    """`pipeline_job_name`, `pipeline_job_uuid`, `pipeline_task_name`, ... -> value."""
    expand: Callable[[str], str] = str
    """The kubelet's `$(NAME)`/`$$` rule, applied to what the pod would get expanded: the
    package's own text and parameter values. Local paths and URIs differ from a pod's, so
    they are left as they are."""

    def resolve(self, items: Sequence[Any]) -> list[str]:
        """The command line: every element resolved, `IfPresent` expanded or dropped."""
        resolved: list[str] = []
        for item in items:
            resolved += self._element(item)
        return resolved

    def is_present(self, name: str) -> bool:
        """`IfPresent`: the parameter was given a non-null value.

        Artifacts never count, as in the 2.17 driver (`resolveCondition` reads only
        parameter values): a package that relies on it would misbehave on Kubeflow, so it
        misbehaves here too instead of hiding the problem.
        """
        return self.parameters.get(name) is not None

    def _element(self, item: Any) -> list[str]:
        structured = _structured(item)
        if structured is None:
            if not isinstance(item, str):
                raise PlaceholderError(f"unsupported command-line element {item!r}")
            return [self._substitute(item)]
        if "IfPresent" in structured:
            spec = structured["IfPresent"]
            if not isinstance(spec, dict) or "InputName" not in spec:
                raise PlaceholderError(f"malformed IfPresent placeholder: {item!r}")
            branch = spec.get("Then") if self.is_present(spec["InputName"]) else spec.get("Else")
            if branch is None:
                return []
            if not isinstance(branch, list):
                branch = [branch]
            return self.resolve(branch)
        parts = structured["Concat"]
        if not isinstance(parts, list):
            raise PlaceholderError(f"malformed Concat placeholder: {item!r}")
        return ["".join(self.resolve(parts))]

    def _substitute(self, text: str) -> str:
        parts: list[str] = []
        last = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(self.expand(text[last : match.start()]))
            parts.append(self._placeholder(match.group("body"), match.group()))
            last = match.end()
        parts.append(self.expand(text[last:]))
        return "".join(parts)

    def _placeholder(self, body: str, whole: str) -> str:
        match = _IO.match(body)
        if match is None:
            key = body.lstrip(".")
            if key in self.names:
                return self.names[key]
            raise PlaceholderError(f"unsupported placeholder {whole}")
        side, what, name, attr = match.group("side", "what", "name", "attr")
        if what == "parameters":
            if side == "outputs":
                raise PlaceholderError(f"output parameters are not supported locally: {whole}")
            if attr is not None:
                raise PlaceholderError(f"unsupported placeholder {whole}")
            if name not in self.parameters:
                raise PlaceholderError(f"{whole}: the input parameter '{name}' has no value")
            return self.expand(serialize_parameter(self.parameters[name]))
        artifacts = self.input_artifacts if side == "inputs" else self.output_artifacts
        artifact = artifacts.get(name)
        if artifact is None:
            raise PlaceholderError(f"{whole}: the {side[:-1]} artifact '{name}' is missing")
        if attr == "path":
            return artifact.path
        if attr == "uri":
            return artifact.uri
        raise PlaceholderError(f"unsupported placeholder {whole}")


def _structured(item: Any) -> dict[str, Any] | None:
    """The IfPresent/Concat object of an element, or None for a plain string."""
    if isinstance(item, dict):
        candidate: Any = item
    elif isinstance(item, str) and item.startswith(_STRUCTURED_PREFIXES):
        try:
            candidate = json.loads(item)
        except ValueError:
            return None
    else:
        return None
    if isinstance(candidate, dict) and len(candidate) == 1 and candidate.keys() & _STRUCTURED:
        return candidate
    return None


def serialize_parameter(value: Any) -> str:
    """A parameter value as text, the way the 2.17 backend driver (`pbValueToString`) does."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_number(value)
    if isinstance(value, (dict, list, tuple)):
        return go_json(value)
    raise TypeError(f"unsupported parameter value {value!r}")


def _go_number(value: float) -> str:
    """`%d` for integral values, else Go's `%g` (shortest digits, exponent if < -4 or >= 6)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    sign, digits, point = _shortest(value)
    exponent = len(digits) + point - 1
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return sign + _plain(digits, point)


def _shortest(value: float) -> tuple[str, str, int]:
    """Sign, significant digits and decimal exponent of the shortest round-trip repr."""
    decimal = Decimal(repr(value)).normalize()
    sign_bit, digit_tuple, point = decimal.as_tuple()
    assert isinstance(point, int)
    return ("-" if sign_bit else ""), "".join(map(str, digit_tuple)), point


def _plain(digits: str, point: int) -> str:
    """Digits times 10**point written without an exponent."""
    if point >= 0:
        return digits + "0" * point
    whole = len(digits) + point
    if whole > 0:
        return digits[:whole] + "." + digits[whole:]
    return "0." + "0" * -whole + digits


def _go_json_float(value: float) -> str:
    """encoding/json's float64: 'f' format unless |x| < 1e-6 or >= 1e21, 'e-7' not 'e-07'."""
    if math.isnan(value) or math.isinf(value):
        raise TypeError(f"{value!r} cannot be written as JSON")
    if value == 0 or 1e-6 <= abs(value) < 1e21:
        if value.is_integer():
            return str(int(value))
        sign, digits, point = _shortest(value)
        return sign + _plain(digits, point)
    sign, digits, point = _shortest(value)
    exponent = len(digits) + point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent)}"


_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    return "".join(_HTML_ESCAPES.get(char, char) for char in encoded)


def go_json(value: Any) -> str:
    """Go's `json.Marshal` of a protobuf struct/list value: compact, keys sorted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{_go_json_string(str(key))}:{go_json(value[key])}"
                for key in sorted(value, key=str)
            )
            + "}"
        )
    raise TypeError(f"unsupported value {value!r}")

"""The pipeline's description: a short guide to its inputs, for the Kubeflow UI.

The KFP 2.17 UI's run form shows each parameter only as `name - type`, in alphabetical
order (`frontend/src/components/NewRunParametersV2.tsx`); the descriptions kept in the IR
appear only in the raw YAML. The one free text it shows is the pipeline's and the version's
description, rendered as Markdown on the pipeline's page
(`frontend/src/components/navigators/PipelineVersionCard.tsx`, `Description.tsx`) and, cut
after about 80 characters and on one line, in the pipelines list (`PipelineList.tsx`). So
the description is that guide: a first line that fits the list (the inputs' names), then one
line per input in manifest order (the APIComponent's order, else the vars'): its name,
required or optional, what to enter, and the APIComponent's description; last, the manifests
it comes from (an upload adds the content hash after it). Names are code spans, so Markdown
never reads their `_` as emphasis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import PipelinePlan, Variable

URI_EXAMPLE = "minio://bucket/path"


def describe(plan: PipelinePlan, order: Sequence[str] = ()) -> str:
    """The guide for `plan`; `order` lists input names first (the APIComponent's order)."""
    inputs = _ordered([v for v in plan.variables if v.role.value == "input"], order)
    names = ", ".join(f"`{v.name}`" + ("" if v.required else " (optional)") for v in inputs)
    api = f", API {plan.api_component}" if plan.api_component else ""
    source = f"UNIP ExperimentPipeline {plan.name}{api}."
    if not inputs:
        return f"No inputs.\n\n{source}"
    items = "\n".join(_line(v) for v in inputs)
    return f"Inputs: {names}.\n\n{items}\n\n{source}"  # blank lines: a Markdown list


def _ordered(inputs: list[Variable], order: Sequence[str]) -> list[Variable]:
    rank = {name: index for index, name in enumerate(order)}
    return sorted(inputs, key=lambda v: rank.get(v.name, len(rank)))  # stable: vars' order


def _line(variable: Variable) -> str:
    what = _what(variable)
    text = f"- `{variable.name}` ({_need(variable)}): {what}."
    description = " ".join(variable.description.split())
    return f"{text} {description}" if description else text


def _need(variable: Variable) -> str:
    if variable.default is not None:
        return f"optional, default `{variable.default}`"
    if variable.required:
        return "required"
    return "optional, leave empty to omit"


def _what(variable: Variable) -> str:
    kind = variable.kind.value
    if kind == "file":
        types = f" ({', '.join(variable.content_types)})" if variable.content_types else ""
        return f"a file or folder URI such as `{URI_EXAMPLE}`{types}"
    return {
        "float": "a number",
        "int": "an integer",
        "dict": 'JSON, e.g. `{"key": 1}`',
        "str": "text",
    }[kind]

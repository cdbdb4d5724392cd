"""Show a plan or findings to a person (text) or to a program (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..checks.roles import Role
from ..errors import Issue
from ..plan.model import Kind, PipelinePlan, Stage, Variable

_TYPE_NAMES = {
    Kind.FILE: "file URI",
    Kind.FLOAT: "float",
    Kind.INT: "int",
    Kind.DICT: "dict",
    Kind.STR: "str",
}


def issues_text(issues: Sequence[Issue]) -> str:
    return "\n".join(i.format() for i in issues)


def issues_json(issues: Sequence[Issue], ok: bool) -> str:
    return json.dumps(
        {"ok": ok, "issues": [i.as_dict() for i in issues]}, indent=2, ensure_ascii=False
    )


def plan_json(plans: Sequence[PipelinePlan]) -> str:
    return json.dumps({"pipelines": [p.to_dict() for p in plans]}, indent=2, ensure_ascii=False)


def plan_text(plan: PipelinePlan) -> str:
    """What the pipeline will be on Kubeflow: parameters, stages, outputs, order."""
    lines = [f"pipeline {plan.name}  (namespace {plan.namespace}, from {plan.file})"]
    if plan.api_component:
        lines.append(f"  API component: {plan.api_component}")
    lines.append("")
    lines.append("parameters:")
    if not plan.inputs:
        lines.append("  (none)")
    for var in plan.inputs:
        lines.append(
            f"  {var.param}: {_TYPE_NAMES[var.kind]}, {_requirement(var)}"
            + (f" - {var.description}" if var.description else "")
        )
    lines.append("")
    lines.append("stages (in order):")
    for index, stage in enumerate(plan.stages, 1):
        lines += _stage_lines(index, stage)
    lines.append("")
    lines.append("outputs:")
    if not plan.outputs:
        lines.append("  (none)")
    for var in plan.outputs:
        producer = plan.producer(var.name)
        lines.append(
            f"  {var.param}: folder from stage '{producer.name if producer else '?'}'"
            + (f" - {var.description}" if var.description else "")
        )
    internal = [v.name for v in plan.variables if v.role is Role.INTERNAL]
    if internal:
        lines.append(f"internal: {', '.join(internal)} (handed from stage to stage)")
    lines.append("")
    lines.append("boxes:")
    for box in plan.boxes:
        lines.append(
            f"  {box.name} -> {box.uri}"
            + ("  (default)" if box.default else "")
            + (f"  [secret {box.secret}]" if box.secret else "")
        )
    root = plan.file_api_root()
    if root:
        lines.append(f"relative input paths resolve under {root}/")
    if plan.continue_with:
        lines.append(f"continueWith: {plan.continue_with} (not translated: run that pipeline next)")
    return "\n".join(lines)


def _requirement(var: Variable) -> str:
    if var.default:
        return f"optional, default {var.default}"
    return "required" if var.required else "optional"


def _stage_lines(index: int, stage: Stage) -> list[str]:
    lines = [
        f"  {index}. {stage.name}" + (f"  (after {stage.after})" if stage.after else ""),
        f"     image:   {stage.image}",
        f"     command: {stage.shell}",
    ]
    resources = [f"{k} {v}" for k, v in (("cpu", stage.cpu), ("memory", stage.memory)) if v]
    resources += [f"{k} {v}" for k, v in stage.accelerators]
    if resources:
        lines.append(f"     limits:  {', '.join(resources)}")
    for name, value in stage.env:
        lines.append(f"     env:     {name}={value}")
    for binding in stage.inputs:
        where = binding.source.describe() if binding.source else "?"
        extra = " (absent when not given)" if binding.optional else ""
        at = f" at {binding.target}" if binding.target else ""
        lines.append(f"     in:  {binding.env}{at} <- {where}{extra}")
    for binding in stage.outputs:
        at = f" at {binding.target}" if binding.target else ""
        lines.append(f"     out: {binding.env}{at} (empty folder, created before the command)")
    return lines

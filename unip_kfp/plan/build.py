"""Build the plan from checked manifests: what each variable is and what each stage runs."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..checks.boxes import Box, box_places, mount_uri, var_mount_uris
from ..checks.project import check_project
from ..checks.roles import Role, is_value, roles, usages
from ..errors import Issue, ManifestError, Severity
from ..manifests import models
from ..manifests.loader import ManifestSet
from ..manifests.project_config import Settings
from ..naming import env_name, io_name, task_name
from .model import (
    Binding,
    Kind,
    PipelinePlan,
    ProjectPlan,
    Source,
    Stage,
    Toleration,
    Variable,
)

_KIND_OF_DATATYPE = {
    "FP32": Kind.FLOAT,
    "FP64": Kind.FLOAT,
    "INT32": Kind.INT,
    "dict": Kind.DICT,
    "str": Kind.STR,
}


def default_user() -> str:
    """File-API user for relative paths: UNIP_KFP_USER, else the login name."""
    try:
        return os.environ.get("UNIP_KFP_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "developer"


def build_plan(
    manifests: ManifestSet,
    settings: Settings | None = None,
    *,
    boxes: Mapping[str, str] | None = None,
    user: str | None = None,
    strict: bool = False,
) -> ProjectPlan:
    """Check the project (`checks.check_project`) and plan every pipeline in it.

    Refuses with ManifestError (every problem at once) only from what the checks found, so
    `validate` with the same options gives the same verdict.
    """
    settings = settings or Settings()
    issues = check_project(manifests, settings, boxes=boxes)
    if strict:
        issues = [Issue(Severity.ERROR, i.message, i.file, i.line, i.field, i.hint) for i in issues]
    if any(i.severity is Severity.ERROR for i in issues):
        raise ManifestError(issues)
    apis = {
        a.spec.experiment_pipeline.name: a
        for a, _ in manifests.of_kind(models.APIComponent)
        if a.spec.experiment_pipeline is not None
    }
    chosen_user = user or settings.config.user or default_user()
    plans = tuple(
        _plan_pipeline(
            p, loaded.doc.file, apis.get(p.metadata.name), settings, dict(boxes or {}), chosen_user
        )
        for p, loaded in manifests.of_kind(models.ExperimentPipeline)
    )
    return ProjectPlan(plans, tuple(i for i in issues if i.severity is Severity.WARNING))


def _kind(api_var: models.ApiVar | None) -> Kind:
    if not is_value(api_var):
        return Kind.FILE
    assert api_var is not None and api_var.type is not None
    kinds = {_KIND_OF_DATATYPE[d] for d in api_var.type.datatypes or ()}
    # Several value types (e.g. [FP32, INT32]): a number accepts both; otherwise a string.
    if kinds <= {Kind.FLOAT, Kind.INT}:
        return Kind.FLOAT if Kind.FLOAT in kinds else Kind.INT
    return kinds.pop() if len(kinds) == 1 else Kind.STR


def _plan_pipeline(
    pipeline: models.ExperimentPipeline,
    file: str,
    api: models.APIComponent | None,
    settings: Settings,
    box_overrides: Mapping[str, str],
    user: str,
) -> PipelinePlan:
    spec = pipeline.spec
    api_spec = (api.spec.api_spec or models.ApiSpec()) if api else None
    boxes = tuple(box_places(pipeline, settings, box_overrides))
    variables = _plan_variables(spec, api_spec, var_mount_uris(spec, boxes))
    plan = PipelinePlan(
        name=pipeline.metadata.name,
        namespace=pipeline.metadata.namespace or "",
        description="",
        api_component=api.metadata.name if api else None,
        file=file,
        user=user,
        variables=variables,
        stages=_plan_stages(spec, {v.name: v for v in variables}, boxes, settings),
        boxes=boxes,
        image_pull_secrets=tuple(settings.config.image_pull_secrets),
        continue_with=_as_text(spec.continue_with),
        credentials=settings.config.kubeflow.credentials,
    )
    from .description import describe  # it reads plans: imported here, not at the top

    order = [v.name for v in api_spec.inputs] if api_spec else []
    return replace(plan, description=describe(plan, order))


def _plan_variables(
    spec: models.PipelineSpec, api_spec: models.ApiSpec | None, mounts: Mapping[str, str | None]
) -> tuple[Variable, ...]:
    """Every variable with its role (SPEC §3), API typing and mount."""
    role_of = roles(spec, api_spec)
    api_vars = {v.name: v for v in (api_spec.inputs + api_spec.outputs)} if api_spec else {}
    declared = {v.name: v for v in spec.vars}
    variables = []
    for name in usages(spec):
        api_var, role, mount_uri = api_vars.get(name), role_of[name], mounts[name]
        api_type = api_var.type if api_var else None
        required = (
            role is Role.INPUT and (api_var.required if api_var else True) and mount_uri is None
        )
        variables.append(
            Variable(
                name=name,
                role=role,
                kind=_kind(api_var) if role is Role.INPUT else Kind.FILE,
                env=env_name(name),
                param=io_name(name),
                required=required,
                description=(api_var.description or "") if api_var else "",
                datatypes=tuple(api_type.datatypes or ()) if api_type else (),
                content_types=tuple(api_type.content_types or ()) if api_type else (),
                path=declared[name].path if name in declared else None,
                mount_uri=mount_uri,
                default=mount_uri if role is Role.INPUT else None,
            )
        )
    return tuple(variables)


def _plan_stages(
    spec: models.PipelineSpec,
    variables: Mapping[str, Variable],
    boxes: Sequence[Box],
    settings: Settings,
) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    writer: dict[str, str] = {}
    for stage in spec.stages:
        inputs = tuple(_input_binding(r, variables[r.name], boxes, writer) for r in stage.inputs)
        outputs = tuple(
            Binding(r.name, variables[r.name].env, variables[r.name].param, Kind.FILE,
                    r.path or variables[r.name].path)
            for r in stage.outputs
        )
        limits = stage.resource_limits or models.ResourceLimits()
        needs = tuple(
            dict.fromkeys(b.source.ref for b in inputs if b.source and b.source.origin == "task")
        )
        stages.append(
            Stage(
                name=stage.name,
                task=task_name(stage.name),
                image=stage.image.existing_image_name,
                command=tuple(stage.entry_point.cmd),
                shell=shell_command(stage.entry_point.cmd),
                env=tuple((e.name, e.value) for e in stage.env),
                cpu=None if limits.cpu is None else str(limits.cpu),
                memory=None if limits.memory is None else str(limits.memory),
                accelerators=tuple((k, int(v)) for k, v in limits.accelerators().items()),
                inputs=inputs,
                outputs=outputs,
                after=stages[-1].name if stages else None,
                needs=needs,
                **_scheduling(settings, stage.name),
            )
        )
        writer.update((ref.name, stage.name) for ref in stage.outputs)
    return tuple(stages)


def _input_binding(
    ref: models.Var, var: Variable, boxes: Sequence[Box], writer: Mapping[str, str]
) -> Binding:
    """Where a stage input comes from: a parameter, a box mount, or an earlier stage."""
    if var.role is Role.INPUT:
        # A mount of an API input is only the parameter's default (SPEC §3).
        source = Source("param", var.param)
    elif ref.mount_from is not None:
        source = Source("mount", mount_uri(ref.mount_from, boxes) or "")
    elif var.mount_uri is not None:
        source = Source("mount", var.mount_uri)
    else:
        source = Source("task", writer[ref.name], var.param)
    return Binding(
        ref.name,
        var.env,
        var.param,
        var.kind if source.origin == "param" else Kind.FILE,
        ref.path or var.path,
        source,
        optional=source.origin == "param" and not var.required and var.default is None,
    )


def _scheduling(settings: Settings, stage: str) -> dict[str, Any]:
    """Node selector and tolerations of a stage: the file's own, then the stage's on top."""
    config = settings.config
    own = config.stages.get(stage)
    selector = {**config.node_selector, **(own.node_selector if own else {})}
    tolerations = [*config.tolerations, *(own.tolerations if own else [])]
    return {
        "node_selector": tuple(selector.items()),
        "tolerations": tuple(
            Toleration(t.key, t.operator, t.value, t.effect, t.toleration_seconds)
            for t in tolerations
        ),
    }


def _as_text(value: object) -> str | None:
    """A free-form manifest value (`continueWith`) as text for display; never fails."""
    if value is None:
        return None
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except ValueError:  # a recursive YAML alias
        return repr(value)


def shell_command(cmd: Sequence[str]) -> str:
    """The platform rule: ``entryPoint.cmd`` items joined by single spaces into one command.

    Items are not quoted: the platform hands the joined string to a shell, so manifests
    already rely on shell syntax (pipes, ``&&``, quoted arguments) spanning items.
    """
    if isinstance(cmd, str):
        raise TypeError("cmd must be a sequence of strings, not a single string")
    return " ".join(cmd)

"""Build the plan from checked manifests: what each variable is and what each stage runs."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..checks.cross_manifest import check_manifests
from ..checks.roles import Role, roles, usages
from ..errors import Issue, ManifestError, Severity, UsageError, did_you_mean
from ..manifests import models
from ..manifests.loader import ManifestSet
from ..manifests.models import VALUE_DATATYPES
from ..manifests.project_config import Settings
from ..naming import env_name, io_name, task_name
from .model import (
    DEFAULT_BOX_ROOT,
    Binding,
    Box,
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
    """Validate the project and plan every pipeline in it; invalid manifests raise ManifestError."""
    settings = settings or Settings()
    issues = check_manifests(manifests)
    if strict:
        issues = [Issue(Severity.ERROR, i.message, i.file, i.line, i.field, i.hint) for i in issues]
    if any(i.severity is Severity.ERROR for i in issues):
        raise ManifestError(issues)
    if not manifests.of_kind(models.ExperimentPipeline):
        raise ManifestError(
            [
                Issue(
                    Severity.ERROR,
                    "no ExperimentPipeline among the manifests",
                    ", ".join(manifests.paths),
                    hint="add the pipeline's manifest or point to its folder",
                )
            ]
        )
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
    _check_box_overrides(plans, boxes or {})
    _check_configured_stages(plans, settings)
    from .launcher_credentials import (
        launcher_issues,  # it reads plans: imported here, not at the top
    )

    issues += launcher_issues(plans, settings, strict=strict)
    return ProjectPlan(plans, tuple(i for i in issues if i.severity is Severity.WARNING))


def _check_box_overrides(plans: Sequence[PipelinePlan], boxes: Mapping[str, str]) -> None:
    known = {b.name for p in plans for b in p.boxes} | {
        b.s3_box_name for p in plans for b in p.boxes
    }
    for name in boxes:
        if name not in known:
            raise UsageError(
                f"--box {name}=...: no connected box or DataBox named '{name}' "
                f"(boxes: {', '.join(sorted(known)) or 'none'})"
            )


def _resolve_boxes(
    pipeline: models.ExperimentPipeline, settings: Settings, overrides: Mapping[str, str]
) -> tuple[Box, ...]:
    """`--box` beats `unip-kfp.yaml` beats `minio://mlpipeline/unip/<namespace>/<s3BoxName>`."""
    result = []
    for box in pipeline.spec.connected_boxes:
        s3_name = box.mount_s3_box.s3_box_name
        configured = settings.config.boxes.get(box.name) or settings.config.boxes.get(s3_name)
        uri = (
            overrides.get(box.name)
            or overrides.get(s3_name)
            or (configured.uri if configured else None)
            or f"{DEFAULT_BOX_ROOT}/{pipeline.metadata.namespace}/{s3_name}"
        )
        result.append(
            Box(
                box.name,
                s3_name,
                uri.rstrip("/"),
                box.path,
                box.default,
                configured.secret if configured else None,
                tuple(sorted(configured.secret_keys.items()))
                if configured and configured.secret
                else (),
            )
        )
    return tuple(result)


def _kind(api_var: models.ApiVar | None) -> Kind:
    datatypes = (api_var.type.datatypes if api_var and api_var.type else None) or []
    if datatypes and all(d in VALUE_DATATYPES for d in datatypes):
        kinds = {_KIND_OF_DATATYPE[d] for d in datatypes}
        # Several value types (e.g. [FP32, INT32]): a number accepts both; otherwise a string.
        if kinds <= {Kind.FLOAT, Kind.INT}:
            return Kind.FLOAT if Kind.FLOAT in kinds else Kind.INT
        return kinds.pop() if len(kinds) == 1 else Kind.STR
    return Kind.FILE


def _mount_uri(mount: models.MountFrom, boxes: tuple[Box, ...]) -> str:
    name = mount.box.name
    box = next(b for b in boxes if (b.name == name if name else b.default))
    path = mount.box.box_path.strip("/")
    return f"{box.uri}/{path}" if path else box.uri


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
    role_of = roles(spec, api_spec)
    api_vars = {v.name: v for v in (api_spec.inputs + api_spec.outputs)} if api_spec else {}
    declared = {v.name: v for v in spec.vars}
    boxes = _resolve_boxes(pipeline, settings, box_overrides)
    variables = []
    for name, use in usages(spec).items():
        decl = declared.get(name) or models.Var(name=name)
        api_var = api_vars.get(name)
        mount_uri = _mount_uri(decl.mount_from, boxes) if decl.mount_from else None
        if mount_uri is None and use.mounted:
            entry = next(
                r for s in spec.stages for r in s.inputs if r.name == name and r.mount_from
            )
            assert entry.mount_from is not None
            mount_uri = _mount_uri(entry.mount_from, boxes)
        role = role_of[name]
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
                datatypes=tuple(api_var.type.datatypes or ()) if api_var and api_var.type else (),
                content_types=tuple(api_var.type.content_types or ())
                if api_var and api_var.type
                else (),
                path=decl.path,
                mount_uri=mount_uri,
                default=mount_uri if role is Role.INPUT else None,
            )
        )
    by_name = {v.name: v for v in variables}
    stages = _plan_stages(spec, by_name, boxes, settings)
    plan = PipelinePlan(
        name=pipeline.metadata.name,
        namespace=pipeline.metadata.namespace or "",
        description="",
        api_component=api.metadata.name if api else None,
        file=file,
        user=user,
        variables=tuple(variables),
        stages=stages,
        boxes=boxes,
        image_pull_secrets=tuple(settings.config.image_pull_secrets),
        continue_with=_as_text(spec.continue_with),
        credentials=settings.config.kubeflow.credentials,
    )
    from .description import describe  # it reads plans: imported here, not at the top

    order = [v.name for v in api_spec.inputs] if api_spec else []
    return replace(plan, description=describe(plan, order))


def _plan_stages(
    spec: models.PipelineSpec,
    variables: Mapping[str, Variable],
    boxes: tuple[Box, ...],
    settings: Settings,
) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    writer: dict[str, str] = {}
    for stage in spec.stages:
        inputs = []
        for ref in stage.inputs:
            var = variables[ref.name]
            if var.role is Role.INPUT:
                # A mount of an API input is only the parameter's default (SPEC §3).
                source = Source("param", var.param)
            elif ref.mount_from is not None:
                source = Source("mount", _mount_uri(ref.mount_from, boxes))
            elif var.mount_uri is not None:
                source = Source("mount", var.mount_uri)
            else:
                source = Source("task", writer[ref.name], var.param)
            inputs.append(
                Binding(
                    ref.name,
                    var.env,
                    var.param,
                    var.kind if source.kind == "param" else Kind.FILE,
                    ref.path or var.path,
                    source,
                    optional=source.kind == "param" and not var.required and var.default is None,
                )
            )
        outputs = [
            Binding(
                r.name,
                variables[r.name].env,
                variables[r.name].param,
                Kind.FILE,
                r.path or variables[r.name].path,
            )
            for r in stage.outputs
        ]
        limits = stage.resource_limits or models.ResourceLimits()
        needs = tuple(
            dict.fromkeys(
                b.source.ref for b in inputs if b.source is not None and b.source.kind == "task"
            )
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
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                after=stages[-1].name if stages else None,
                needs=needs,
                **_scheduling(settings, stage.name),
            )
        )
        for ref in stage.outputs:
            writer[ref.name] = stage.name
    return tuple(stages)


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


def _check_configured_stages(plans: Sequence[PipelinePlan], settings: Settings) -> None:
    """Every stage named under `stages:` in unip-kfp.yaml must exist (a typo would be silent)."""
    known = [s.name for p in plans for s in p.stages]
    issues = []
    for name in settings.config.stages:
        if name not in known:
            guess = did_you_mean(name, known)
            issues.append(
                settings.issue(
                    ("stages", name),
                    f"no stage named '{name}' in the pipelines",
                    f"did you mean '{guess}'?" if guess else f"stages: {', '.join(known)}",
                )
            )
    if issues:
        raise ManifestError(issues)


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

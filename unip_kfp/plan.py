"""From validated manifests to the plan: plain frozen data the compiler consumes.

The plan says, for each ExperimentPipeline, what every variable is (role, type, env var,
where its data comes from), what each stage runs and in which order, and where each box
lives. The compile step reads only this, never the manifests again.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from . import models
from .config import Settings
from .errors import Issue, ManifestError, Severity, UsageError
from .loader import ManifestSet, did_you_mean
from .models import VALUE_DATATYPES
from .naming import env_name, io_name, task_name
from .roles import Role, roles, usages
from .validate import check_manifests
from .wrapper import shell_command

SENTINEL_URI = "minio://mlpipeline/unip/absent"
DEFAULT_BOX_ROOT = "minio://mlpipeline/unip"


class Kind(str, Enum):
    """How a variable's data travels: a file/folder by URI, or a typed value."""

    FILE = "file"
    FLOAT = "float"
    INT = "int"
    DICT = "dict"
    STR = "str"


_KIND_OF_DATATYPE = {
    "FP32": Kind.FLOAT,
    "FP64": Kind.FLOAT,
    "INT32": Kind.INT,
    "dict": Kind.DICT,
    "str": Kind.STR,
}


@dataclass(frozen=True)
class Box:
    """A connected box and the base URI it resolves to."""

    name: str
    s3_box_name: str
    uri: str
    container_path: str | None
    default: bool
    secret: str | None = None
    secret_keys: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Variable:
    name: str
    role: Role
    kind: Kind
    env: str
    param: str
    required: bool
    description: str
    datatypes: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()
    path: str | None = None
    mount_uri: str | None = None
    default: str | None = None


@dataclass(frozen=True)
class Source:
    """Where a stage input comes from: a pipeline parameter, a box mount, or an earlier task."""

    kind: str  # "param" | "mount" | "task"
    ref: str  # parameter name | URI | producing stage name
    output: str | None = None  # the producer's output name (kind "task")

    def describe(self) -> str:
        if self.kind == "param":
            return f"pipeline parameter '{self.ref}'"
        if self.kind == "mount":
            return f"mounted from {self.ref}"
        return f"output '{self.output}' of stage '{self.ref}'"


@dataclass(frozen=True)
class Binding:
    """One var as a stage sees it."""

    var: str
    env: str
    io: str
    kind: Kind
    target: str | None = None
    source: Source | None = None
    optional: bool = False


@dataclass(frozen=True)
class Toleration:
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    seconds: int | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    task: str
    image: str
    command: tuple[str, ...]
    shell: str
    env: tuple[tuple[str, str], ...]
    cpu: str | None
    memory: str | None
    accelerators: tuple[tuple[str, int], ...]
    inputs: tuple[Binding, ...]
    outputs: tuple[Binding, ...]
    after: str | None
    needs: tuple[str, ...]
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    namespace: str
    description: str
    api_component: str | None
    file: str
    user: str
    variables: tuple[Variable, ...]
    stages: tuple[Stage, ...]
    boxes: tuple[Box, ...]
    image_pull_secrets: tuple[str, ...] = ()
    sentinel_uri: str = SENTINEL_URI
    credentials: str = "env"  # kubeflow.credentials: "env" or "launcher" (launcher.py)
    continue_with: str | None = None

    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)

    @property
    def inputs(self) -> tuple[Variable, ...]:
        """Pipeline parameters, required ones first (Python signatures need that order)."""
        found = [v for v in self.variables if v.role is Role.INPUT]
        return tuple(sorted(found, key=lambda v: not v.required))

    @property
    def outputs(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.role is Role.OUTPUT)

    @property
    def default_box(self) -> Box | None:
        return next((b for b in self.boxes if b.default), None)

    def file_api_root(self) -> str | None:
        """Where a caller's relative path `p` lives: `<default box>/users/<user>/file_groups`."""
        box = self.default_box
        return f"{box.uri}/users/{self.user}/file_groups" if box else None

    def producer(self, var: str) -> Stage | None:
        return next((s for s in self.stages if any(o.var == var for o in s.outputs)), None)

    def to_dict(self) -> dict[str, object]:
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass(frozen=True)
class ProjectPlan:
    pipelines: tuple[PipelinePlan, ...]
    warnings: tuple[Issue, ...] = field(default_factory=tuple)

    def select(self, name: str | None) -> list[PipelinePlan]:
        """The pipeline named `name`, or all of them; an unknown name is a usage error."""
        if name is None:
            return list(self.pipelines)
        chosen = [p for p in self.pipelines if p.name == name]
        if not chosen:
            known = ", ".join(p.name for p in self.pipelines) or "none"
            raise UsageError(f"no pipeline named '{name}' (pipelines here: {known})")
        return chosen


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
    from .launcher import launcher_issues  # it reads plans: imported here, not at the top

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
    from .guide import describe  # it reads plans: imported here, not at the top

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

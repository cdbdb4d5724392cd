"""From validated manifests to the plan: plain frozen data the compiler consumes.

The plan says, for each ExperimentPipeline, what every variable is (role, type, env var,
where its data comes from), what each stage runs and in which order, and where each box
lives. The compile step reads only this, never the manifests again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum

from ..checks.boxes import Box  # the boxes the checks resolved
from ..checks.roles import Role
from ..errors import Issue, UsageError

__all__ = ["Binding", "Box", "Kind", "PipelinePlan", "ProjectPlan", "SENTINEL_URI", "Source",
           "Stage", "Toleration", "Variable"]

SENTINEL_URI = "minio://mlpipeline/unip/absent"


class Kind(str, Enum):
    """How a variable's data travels: a file/folder by URI, or a typed value."""

    FILE = "file"
    FLOAT = "float"
    INT = "int"
    DICT = "dict"
    STR = "str"




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

    origin: str  # "param" | "mount" | "task"
    ref: str  # parameter name | URI | producing stage name
    output: str | None = None  # the producer's output name (origin "task")

    def describe(self) -> str:
        if self.origin == "param":
            return f"pipeline parameter '{self.ref}'"
        if self.origin == "mount":
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
    credentials: str = "env"  # kubeflow.credentials: "env" or "launcher" (launcher_credentials.py)
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

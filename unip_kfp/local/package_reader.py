"""Read a compiled pipeline package (KFP IR YAML) into `pipeline_spec_pb2` messages.

Everything the local runner cannot do is found here, before anything runs: loops
(`ParallelFor`), executors other than containers and importers, task-status inputs,
conditions outside the supported CEL subset, dependency cycles.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from ..errors import UsageError
from ..launch.prepared import parse_platform, parse_spec
from ..ordering import CycleError, in_rounds
from .cel import Condition, ConditionError, compile_condition

__all__ = ["ROOT", "Package", "StageRef", "constant_value"]

ExecutorSpec = pb.PipelineDeploymentConfig.ExecutorSpec
ROOT = "<root>"
"""The name this module gives the root component (its DAG is `spec.root`)."""


@dataclass(frozen=True)
class StageRef:
    """A container task somewhere in the DAG: its path of task names and display name."""

    key: tuple[str, ...]
    name: str


def constant_value(spec: Any) -> Any:
    """The Python value of a `ValueOrRuntimeParameter` constant (`constant` or `constant_value`)."""
    which = spec.WhichOneof("value")
    if which == "constant":
        return json_format.MessageToDict(spec.constant)
    if which == "constant_value":
        inner = spec.constant_value
        kind = inner.WhichOneof("value")
        return getattr(inner, kind) if kind else None
    raise UsageError(f"expected a constant, found a runtime parameter '{spec.runtime_parameter}'")


class Package:
    """A pipeline package, parsed and checked for what the local runner supports."""

    def __init__(
        self,
        content: bytes | Mapping[str, Any],
        source: str,
        platform: Mapping[str, Any] | None = None,
    ):
        """From the package's bytes, or its spec already parsed (`target.parse_spec`) with
        its `platforms` document (`target.parse_platform`)."""
        self.source = source
        self.spec = _parse(content, source)
        if platform is None and isinstance(content, bytes):
            platform = parse_platform(content)
        self.platform = dict(platform or {})
        executors = json_format.MessageToDict(self.spec.deployment_spec).get("executors", {})
        self.executors: dict[str, Any] = {
            label: json_format.ParseDict(body, ExecutorSpec(), ignore_unknown_fields=True)
            for label, body in executors.items()
        }
        self.conditions: dict[str, Condition] = {}
        self.orders: dict[str, list[str]] = {}
        self._check(ROOT, "root", set())

    @property
    def name(self) -> str:
        return str(self.spec.pipeline_info.name)

    @property
    def root(self) -> Any:
        return self.spec.root

    def component(self, ref: str) -> Any:
        """A component by name (`ROOT` for the pipeline's own DAG)."""
        return self.spec.root if ref == ROOT else self.spec.components[ref]

    def executor(self, component: Any) -> Any:
        return self.executors[component.executor_label]

    def secret_env(self, component: Any) -> list[str]:
        """Variables a stage's pod gets from Secrets (`secretAsEnv`), in the driver's order."""
        kubernetes = self.platform.get("kubernetes")
        executors = (kubernetes or {}).get("deploymentSpec", {}).get("executors", {})
        config = executors.get(component.executor_label) or {}
        return [
            str(item.get("envVar"))
            for secret in config.get("secretAsEnv") or []
            for item in secret.get("keyToEnv") or []
            if item.get("envVar")
        ]

    def containers(self) -> Iterator[Any]:
        """Every container executor spec of the package."""
        for executor in self.executors.values():
            if executor.WhichOneof("spec") == "container":
                yield executor.container

    def order(self, ref: str) -> list[str]:
        """The DAG's task names in dependency order (ties by name): the walk's start order."""
        return self.orders[ref]

    @staticmethod
    def dependencies(task: Any) -> set[str]:
        """Tasks that must finish first: `dependentTasks` and every producer of an input."""
        needs = set(task.dependent_tasks)
        for spec in task.inputs.parameters.values():
            if spec.WhichOneof("kind") == "task_output_parameter":
                needs.add(spec.task_output_parameter.producer_task)
        for spec in task.inputs.artifacts.values():
            if spec.WhichOneof("kind") == "task_output_artifact":
                needs.add(spec.task_output_artifact.producer_task)
        return needs

    def stages(self, ref: str = ROOT, scope: tuple[str, ...] = ()) -> Iterator[StageRef]:
        """Every container task under the component `ref`, in walk order."""
        component = self.component(ref)
        for name in self.order(ref):
            task = component.dag.tasks[name]
            child = self.component(task.component_ref.name)
            if child.WhichOneof("implementation") == "dag":
                yield from self.stages(task.component_ref.name, (*scope, name))
            elif self.executor(child).WhichOneof("spec") == "container":
                yield StageRef((*scope, name), task.task_info.name or name)

    def constant_imports(self) -> Iterator[tuple[str, str]]:
        """(display name, URI) of every importer with a constant URI, anywhere in the DAG."""
        yield from self._constant_imports(ROOT)

    def _constant_imports(self, ref: str) -> Iterator[tuple[str, str]]:
        component = self.component(ref)
        for name in self.order(ref):
            task = component.dag.tasks[name]
            child = self.component(task.component_ref.name)
            if child.WhichOneof("implementation") == "dag":
                yield from self._constant_imports(task.component_ref.name)
                continue
            executor = self.executor(child)
            if executor.WhichOneof("spec") != "importer":
                continue
            uri_spec = executor.importer.artifact_uri
            if uri_spec.WhichOneof("value") in ("constant", "constant_value"):
                yield task.task_info.name or name, str(constant_value(uri_spec))

    def _check(self, ref: str, where: str, active: set[str]) -> None:
        """Walk every reachable component once; refuse what cannot run here."""
        component = self.component(ref)
        if component.WhichOneof("implementation") != "dag":
            raise UsageError(f"{self.source}: {where} is not a DAG")
        tasks = component.dag.tasks
        self.orders[ref] = _topological(tasks, where, self.source)
        for name, task in tasks.items():
            label = f"{where}/{name}"
            if task.WhichOneof("iterator"):
                raise _unsupported(self.source, label, "loops (dsl.ParallelFor)")
            for key, spec in task.inputs.parameters.items():
                if spec.WhichOneof("kind") == "task_final_status":
                    raise _unsupported(self.source, label, f"task-status input '{key}'")
                if spec.parameter_expression_selector:
                    raise _unsupported(self.source, label, f"parameter selector on '{key}'")
                if spec.WhichOneof("kind") is None:
                    raise _unsupported(self.source, label, f"input parameter '{key}' has no source")
            condition = task.trigger_policy.condition
            if condition and condition not in self.conditions:
                try:
                    self.conditions[condition] = compile_condition(condition)
                except ConditionError as exc:
                    raise _unsupported(self.source, label, str(exc)) from None
            ref = task.component_ref.name
            if ref not in self.spec.components:
                raise UsageError(f"{self.source}: {label} uses the missing component '{ref}'")
            child = self.spec.components[ref]
            kind = child.WhichOneof("implementation")
            if kind == "dag":
                if ref in active:
                    raise UsageError(f"{self.source}: component '{ref}' contains itself")
                if ref not in self.orders:
                    self._check(ref, label, active | {ref})
                continue
            if kind != "executor_label" or child.executor_label not in self.executors:
                raise UsageError(f"{self.source}: {label} has no executor")
            executor = self.executors[child.executor_label]
            spec_kind = executor.WhichOneof("spec")
            if spec_kind == "container":
                if not executor.container.command and not executor.container.args:
                    raise _unsupported(self.source, label, "a container with no command")
            elif spec_kind != "importer":
                raise _unsupported(self.source, label, f"'{spec_kind}' executors")


def _unsupported(source: str, where: str, what: str) -> UsageError:
    return UsageError(f"{source}: {where}: the local runner does not support {what}")


def _topological(tasks: Any, where: str, source: str) -> list[str]:
    """The tasks in dependency order, each round of ready tasks by name (a stable walk)."""
    needs = {name: Package.dependencies(task) for name, task in tasks.items()}
    for name, deps in needs.items():
        missing = deps - set(tasks)
        if missing:
            raise UsageError(
                f"{source}: {where}/{name} depends on unknown task(s) {', '.join(sorted(missing))}"
            )
    try:
        return in_rounds(needs)
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise UsageError(f"{source}: {where}: dependency cycle {cycle}") from None


def _parse(content: bytes | Mapping[str, Any], source: str) -> Any:
    spec = parse_spec(content, source) if isinstance(content, bytes) else content
    try:
        return json_format.ParseDict(spec, pb.PipelineSpec(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise UsageError(f"{source}: not a valid pipeline package: {exc}") from None

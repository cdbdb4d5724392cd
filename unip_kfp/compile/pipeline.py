"""Assemble the KFP pipeline of one planned ExperimentPipeline.

Inputs become typed pipeline parameters; file inputs are full-URI strings fed to importers
(the 2.17 backend resolves an importer URI only when it is a whole parameter or a
constant). Optional file inputs import a sentinel in a `dsl.Else` branch and reach the stage
through `dsl.OneOf`. Stages run in manifest order unless `parallel`.

Every importer is `dsl.importer`'s component under its own name, so its task key is also its
label (`import-<input>`, `mount-<var>`, `no-<input>`; see `naming.py`) and its output is the
variable's name, not kfp's fixed `artifact`. `uigraph.tidy` then renames the rest of kfp's
plumbing for the UI.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kfp import dsl, kubernetes
from kfp.dsl import graph_component, importer_component, placeholders, structures
from kfp.dsl import utils as kfp_utils

from ..checks.resources import CPU_QUANTITY, MEMORY_QUANTITY
from ..errors import CompileError
from ..naming import absent_key, import_key, io_name, mount_key
from ..plan.model import Kind, PipelinePlan, Stage, Variable
from .components import ARTIFACT_TYPE, PARAMETER_TYPES, stage_component
from .refusals import raised_by_kfp
from .ui_graph import OptionalGroup, tidy


@dataclass(frozen=True)
class CompileOptions:
    """Switches that change the package, not the manifests' meaning."""

    cache: bool = False
    parallel: bool = False


def build_pipeline(plan: PipelinePlan, options: CompileOptions | None = None) -> Any:
    """The pipeline as a kfp GraphComponent, ready for `kfp.compiler.Compiler().compile`."""
    options = options or CompileOptions()
    components = {}
    for stage in plan.stages:
        with _blame(plan, stage):
            components[stage.name] = stage_component(plan, stage)
    spec = structures.ComponentSpec(
        name=plan.name,
        description=plan.description,
        inputs={v.param: _parameter_spec(v) for v in plan.inputs} or None,
        outputs={
            v.param: structures.OutputSpec(type=ARTIFACT_TYPE, description=v.description or None)
            for v in plan.outputs
        }
        or None,
        implementation=structures.Implementation(),
    )

    groups: list[OptionalGroup] = []

    def body(*channels: Any) -> dict[str, Any]:
        params = dict(zip([v.param for v in plan.inputs], channels, strict=True))
        return _Assembly(plan, options, components, params, groups).run()

    body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(v.param, inspect.Parameter.POSITIONAL_OR_KEYWORD) for v in plan.inputs]
    )
    body.__name__ = plan.name.replace("-", "_")
    try:
        with memoised_task_names():
            component = graph_component.GraphComponent(
                component_spec=spec, pipeline_func=body, display_name=plan.name
            )
        tidy(component.pipeline_spec, groups)
        return component
    except CompileError:
        raise
    except Exception as exc:  # kfp signals invalid graphs with many exception types
        if not raised_by_kfp(exc):
            raise  # a bug of ours: the CLI reports an internal error (exit 70)
        raise CompileError(
            f"pipeline '{plan.name}': Kubeflow Pipelines rejected it: {exc}"
        ) from exc


def _parameter_spec(variable: Variable) -> structures.InputSpec:
    """A pipeline parameter per SPEC §3: URIs are strings; '' means an omitted optional file."""
    kind = "String" if variable.kind is Kind.FILE else PARAMETER_TYPES[variable.kind]
    description = variable.description or f"UNIP input '{variable.name}'"
    if variable.kind is Kind.FILE:
        description += " (full URI, e.g. minio://bucket/path)"
    if variable.default is not None:
        return structures.InputSpec(
            type=kind, default=variable.default, optional=True, description=description
        )
    if variable.required:
        return structures.InputSpec(type=kind, description=description)
    if variable.kind is Kind.FILE:
        return structures.InputSpec(
            type=kind, default="", optional=True, description=description + "; empty = not given"
        )
    return structures.InputSpec(
        type=kind, optional=True, description=description + " (may be omitted)"
    )


@contextmanager
def _blame(plan: PipelinePlan, stage: Stage | None) -> Iterator[None]:
    """Name the pipeline and stage when kfp refuses something; let our own bugs through."""
    try:
        yield
    except CompileError:
        raise
    except Exception as exc:  # kfp raises ValueError, TypeError and its own exception types
        if not raised_by_kfp(exc):
            raise  # a bug of ours: the CLI reports an internal error (exit 70)
        where = f"stage '{stage.name}' of pipeline '{plan.name}'" if stage else plan.name
        raise CompileError(f"{where}: Kubeflow Pipelines rejected it: {exc}") from exc


def set_container_settings(task: Any, stage: Stage) -> None:
    """Put the stage's env and resources on its task, as kfp's task setters would.

    Why not the setters: `set_env_variable`, `set_cpu_*`, `set_memory_*` and
    `set_accelerator_*` each call `_ensure_container_spec_exists`, which runs
    `inspect.stack()` only to name the caller in an error our container tasks never raise.
    That reads the source of every frame; under click's deep stack it was 98% of compiling.

    Relies on kfp 2.17 internals (kfp/dsl/pipeline_task.py, those setters): they write
    `task.container_spec.env` (a dict, in call order) and `task.container_spec.resources`
    (a `structures.ResourceSpec`, created on first use), which
    `kfp/compiler/pipeline_spec_builder.py` `build_container_spec_for_task` turns into the
    executor's container. tests/test_kfp_internals.py compares with the setters' packages.
    """
    spec = task.container_spec
    if stage.env:
        spec.env = {**(spec.env or {}), **dict(stage.env)}
    resources: dict[str, str] = {}
    if stage.cpu:
        resources.update(cpu_request=stage.cpu, cpu_limit=stage.cpu)
    if stage.memory:
        resources.update(memory_request=stage.memory, memory_limit=stage.memory)
    for kind, count in stage.accelerators:
        resources.update(accelerator_type=kind, accelerator_count=str(count))
    if resources:
        spec.resources = dataclasses.replace(
            spec.resources or structures.ResourceSpec(), **resources
        )


@contextmanager
def memoised_task_names() -> Iterator[None]:
    """While kfp builds the IR, remember each sanitised task name instead of recomputing it.

    Why: for every task of a DAG, kfp 2.17's compiler sanitises the names of all the DAG's
    tasks again (two regex substitutions each): N^2 calls, 4 s of an 8 s compile at 2000
    stages and a fifth of it at 500. The function is pure (str -> str), so the IR is the same.

    Relies on kfp 2.17 internals: kfp/compiler/pipeline_spec_builder.py `build_spec_by_group`
    (the `tasks_in_current_dag` list) calls `kfp.dsl.utils.sanitize_task_name` through the
    module attribute, which this replaces for the duration and then restores. kfp's pipeline
    builder is single-threaded anyway (one global default pipeline).
    tests/test_kfp_internals.py checks the call path, the restore and the identical IR.
    """
    original = kfp_utils.sanitize_task_name
    kfp_utils.sanitize_task_name = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        kfp_utils.sanitize_task_name = original


class _Assembly:
    """The body of the pipeline function: importers, stage tasks, ordering, task settings."""

    def __init__(
        self,
        plan: PipelinePlan,
        options: CompileOptions,
        components: dict[str, Any],
        params: dict[str, Any],
        groups: list[OptionalGroup],
    ):
        self.plan = plan
        self.options = options
        self.components = components
        self.params = params
        self.groups = groups
        self.artifacts: dict[tuple[str, str], Any] = {}
        self.tasks: dict[str, Any] = {}
        self.mounts: dict[str, int] = {}

    def run(self) -> dict[str, Any]:
        previous = None
        for stage in self.plan.stages:
            with _blame(self.plan, stage):
                task = self.stage_task(stage)
                if previous is not None and not self.options.parallel:
                    task.after(previous)
            previous = task
        return {
            v.param: self.tasks[self.plan.producer(v.name).name].outputs[v.param]  # type: ignore[union-attr]
            for v in self.plan.outputs
        }

    def stage_task(self, stage: Stage) -> Any:
        arguments = {}
        for binding in stage.inputs:
            source = binding.source
            assert source is not None
            if source.origin == "task":
                arguments[binding.io] = self.tasks[source.ref].outputs[binding.io]
            elif source.origin == "mount":
                arguments[binding.io] = self.imported("mount", source.ref, binding.var)
            elif binding.kind is Kind.FILE:
                arguments[binding.io] = self.imported(
                    "param", source.ref, binding.var, optional=binding.optional
                )
            else:
                arguments[binding.io] = self.params[source.ref]
        task = self.components[stage.name](**arguments)
        task.set_display_name(stage.name)
        self.configure(task, stage)
        self.tasks[stage.name] = task
        return task

    def imported(self, kind: str, ref: str, var: str, optional: bool = False) -> Any:
        """One importer per URI source (shared by every stage that reads it)."""
        key = (kind, ref)
        if key in self.artifacts:
            return self.artifacts[key]
        if kind == "mount":
            self.mounts[var] = self.mounts.get(var, 0) + 1
            artifact = self.importer(ref, mount_key(var, self.mounts[var]), var)
        elif not optional:
            artifact = self.importer(self.params[ref], import_key(var), var)
        else:
            with dsl.If(self.params[ref] != "", name="given") as given_group:
                given = self.importer(self.params[ref], import_key(var), var)
            with dsl.Else(name="not given") as absent_group:
                absent = self.importer(self.plan.sentinel_uri, absent_key(var), var)
            artifact = dsl.OneOf(given, absent)
            self.groups.append(
                OptionalGroup(var, artifact.task_name, given_group.name, absent_group.name)
            )
        self.artifacts[key] = artifact
        return artifact

    def importer(self, uri: Any, name: str, var: str) -> Any:
        """`dsl.importer`'s task under the task key and label `name`, output named `var`'s."""
        spec = structures.ComponentSpec(
            name=name,
            implementation=structures.Implementation(
                importer=structures.ImporterSpec(
                    artifact_uri=placeholders.InputValuePlaceholder("uri")._to_string(),
                    schema_title=ARTIFACT_TYPE,
                    schema_version=ARTIFACT_TYPE.rpartition("@")[2],
                    reimport=False,
                )
            ),
            inputs={"uri": structures.InputSpec(type="String")},
            outputs={io_name(var): structures.OutputSpec(type=ARTIFACT_TYPE)},
        )
        task = importer_component.ImporterComponent(component_spec=spec)(uri=uri)
        if task.name != name:  # validation reserves these keys: kfp never renames them
            raise CompileError(f"pipeline '{self.plan.name}': task key '{name}' is taken")
        task.set_display_name(name)
        task.set_caching_options(self.options.cache)
        return task.output

    def configure(self, task: Any, stage: Stage) -> None:
        task.set_caching_options(self.options.cache)
        # kfp's setters would refuse these; validation already did, with the same patterns.
        # (One accelerator type and one box Secret per stage are validation's rules too:
        # checks/resources.py, checks/credentials.py.)
        if (stage.cpu and not CPU_QUANTITY.fullmatch(stage.cpu)) or (
            stage.memory and not MEMORY_QUANTITY.fullmatch(stage.memory)
        ):
            raise CompileError(
                f"stage '{stage.name}': cpu '{stage.cpu}' or memory '{stage.memory}' is not a "
                "quantity Kubeflow accepts"
            )
        set_container_settings(task, stage)
        for label, value in stage.node_selector:
            kubernetes.add_node_selector(task, label, value)
        for toleration in stage.tolerations:
            kubernetes.add_toleration(
                task,
                key=toleration.key,
                operator=toleration.operator,
                value=toleration.value,
                effect=toleration.effect,
                toleration_seconds=toleration.seconds,
            )
        if self.plan.image_pull_secrets:
            kubernetes.set_image_pull_secrets(task, list(self.plan.image_pull_secrets))
        if self.plan.credentials == "launcher":
            return  # the namespace's kfp-launcher names the box Secrets (launcher.py)
        secrets = {(box.secret, box.secret_keys) for box in self.secret_boxes(stage)}
        for secret, keys in sorted(secrets, key=str):
            kubernetes.use_secret_as_env(
                task, secret_name=secret, secret_key_to_env={k: e for e, k in keys}
            )

    def secret_boxes(self, stage: Stage) -> list[Any]:
        """Boxes whose credentials the launcher needs to download this stage's inputs."""
        uris = [b.source.ref for b in stage.inputs if b.source and b.source.origin == "mount"]
        # A file parameter's default (a mounted API input) is read from its box too.
        uris += [
            self.plan.variable(b.var).default or ""
            for b in stage.inputs
            if b.source and b.source.origin == "param" and b.kind is Kind.FILE
        ]
        boxes = [
            box
            for box in self.plan.boxes
            if box.secret and any(u == box.uri or u.startswith(box.uri + "/") for u in uris)
        ]
        default = self.plan.default_box
        reads_params = any(
            b.source and b.source.origin == "param" and b.kind is Kind.FILE for b in stage.inputs
        )
        if reads_params and default is not None and default.secret and default not in boxes:
            boxes.append(default)
        return boxes

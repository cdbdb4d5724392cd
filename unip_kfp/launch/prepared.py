"""What a run or an upload is given, prepared once: a `Project`, a package path, or a package.

A `Project` (anything `Compilable`) compiles itself and keeps its manifests' plan; this
module never imports it, since the API sits above this step of the flow. A package file
carries no manifests, so its plan is rebuilt from the package's interface
(`root.inputDefinitions` / `root.outputDefinitions`): that is enough to parse `-i` values
with the shared rule (`arguments.py`) and to name outputs. It knows no boxes, so
box-relative inputs need the manifests (or full URIs). A root STRING parameter is a file
input when it feeds an importer's URI, directly or through sub-DAGs (condition branches):
that is how a package says "this is a file", whatever the parameter's name or description.
Every other parameter is a value of its type. kfp is not imported here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Union, runtime_checkable

import yaml

from ..checks.roles import Role
from ..compile.package import CompiledPackage
from ..errors import UsageError
from ..manifests.project_config import Settings, find_config, load_settings
from ..naming import env_name
from ..plan.build import default_user
from ..plan.model import Kind, PipelinePlan, Variable

_PARAMETER_KINDS = {
    "NUMBER_INTEGER": Kind.INT,
    "NUMBER_DOUBLE": Kind.FLOAT,
    "STRUCT": Kind.DICT,
    "STRING": Kind.STR,
}


@dataclass(frozen=True)
class Prepared:
    """A pipeline ready to run or upload: its plan, package bytes, parsed spec and settings."""

    plan: PipelinePlan
    content: bytes
    spec: dict[str, Any]
    settings: Settings
    source: str
    """For messages: the manifest file of the pipeline, or the package path."""
    from_manifests: bool
    module_folder: str | None
    """For a `Project`: the module folder (see `module_folder`); None for a package."""
    sources: tuple[str, ...] = ()
    """The manifest paths, or the package file: what a run must never write over."""

    @property
    def platform(self) -> dict[str, Any]:
        """The package's `platforms` document (kfp-kubernetes settings), or {}."""
        return parse_platform(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def pipeline_name(self) -> str:
        """`pipelineInfo.name`: the pipeline's folder under the pipeline root."""
        return str(self.spec.get("pipelineInfo", {}).get("name") or self.plan.name)


@runtime_checkable
class Compilable(Protocol):
    """What a run needs of a loaded project (`unip_kfp.Project`): one pipeline, prepared.

    A protocol, so that this step of the flow never imports the API built on top of it.
    """

    def prepared(self, *, pipeline: str | None, cache: bool, parallel: bool) -> Prepared: ...


Target = Union[Compilable, str, "os.PathLike[str]", CompiledPackage]
"""What a run, an upload or a schedule is given: a project, a package file, or a package."""


def prepare(
    target: Target, *, pipeline: str | None = None, cache: bool = False, parallel: bool = False
) -> Prepared:
    """Compile a `Project`, or read a package file (`str`/`os.PathLike`) or `CompiledPackage`."""
    if isinstance(target, Compilable):
        return target.prepared(pipeline=pipeline, cache=cache, parallel=parallel)
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError as exc:
            raise UsageError(f"cannot read the package {path}: {exc.strerror}") from None
        return _from_package(content, path, load_settings(find_config([path])), pipeline)
    if isinstance(target, CompiledPackage):
        path = target.path or f"<package {target.pipeline}>"
        return _from_package(target.content, path, Settings(), pipeline)
    raise UsageError(
        f"cannot use a {type(target).__name__}: pass a Project (unip_kfp.load(...)) or the "
        "path of a compiled pipeline package"
    )


def module_folder(paths: tuple[str, ...]) -> str:
    """Where a module's stages run: the folder above `manifests/`, else the folder given.

    The folder of the first path (itself, or the one holding the manifest file) is the
    module folder, unless it is named `manifests`: then its parent is. So
    `run manifests/`, `run manifests/all.yaml` and `run .` (in the module folder) agree.
    """
    first = os.path.abspath(paths[0])
    folder = first if os.path.isdir(first) else os.path.dirname(first)
    return os.path.dirname(folder) if os.path.basename(folder) == "manifests" else folder


def _documents(content: bytes, source: str) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.load_all(content.decode("utf-8"), Loader=loader)
                if d is not None]
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{source} is not a pipeline package: {exc}") from None


def parse_platform(content: bytes) -> dict[str, Any]:
    """The `platforms` of a package's second document (kfp-kubernetes), or {}."""
    documents = _documents(content, "<package>")
    extra = documents[1] if len(documents) > 1 and isinstance(documents[1], dict) else {}
    platforms = extra.get("platforms")
    return platforms if isinstance(platforms, dict) else {}


def parse_spec(content: bytes, source: str) -> dict[str, Any]:
    """The pipeline spec (first YAML document) of a package; anything else is a usage error."""
    documents = _documents(content, source)
    spec = documents[0] if documents else None
    if not isinstance(spec, dict) or "pipelineInfo" not in spec or "root" not in spec:
        raise UsageError(
            f"{source} is not a pipeline package (no pipelineInfo/root); compile the "
            "manifests with `unip-kfp compile`, or pass their folder"
        )
    return spec


def _from_package(content: bytes, source: str, settings: Settings,
                  pipeline: str | None) -> Prepared:
    spec = parse_spec(content, source)
    plan = plan_from_spec(spec, source, settings)
    if pipeline is not None and pipeline != plan.name:
        raise UsageError(f"{source} holds pipeline '{plan.name}', not '{pipeline}'")
    return Prepared(plan, content, spec, settings, source, False, None,
                    (os.path.abspath(source),) if os.path.exists(source) else ())


def plan_from_spec(spec: dict[str, Any], source: str, settings: Settings | None = None
                   ) -> PipelinePlan:
    """A stage-less plan with the package's parameters and outputs (see the module doc)."""
    root = _mapping(spec.get("root"))
    info = _mapping(spec.get("pipelineInfo"))
    files = file_parameters(spec)
    variables = []
    parameters = _mapping(_mapping(root.get("inputDefinitions")).get("parameters"))
    for name, definition in parameters.items():
        definition = _mapping(definition)
        kind = Kind.FILE if name in files else _PARAMETER_KINDS.get(
            str(definition.get("parameterType")), Kind.STR)
        optional = bool(definition.get("isOptional")) or "defaultValue" in definition
        variables.append(Variable(name, Role.INPUT, kind, env_name(name), name, not optional,
                                  str(definition.get("description") or "")))
    artifacts = _mapping(_mapping(root.get("outputDefinitions")).get("artifacts"))
    for name, definition in artifacts.items():
        variables.append(Variable(name, Role.OUTPUT, Kind.FILE, env_name(name), name, False,
                                  str(_mapping(definition).get("description") or "")))
    user = (settings.config.user if settings else None) or default_user()
    return PipelinePlan(
        name=str(info.get("name") or "pipeline"),
        namespace="",
        description=str(info.get("description") or ""),
        api_component=None,
        file=source,
        user=user,
        variables=tuple(variables),
        stages=(),
        boxes=(),
    )


def file_parameters(spec: Mapping[str, Any]) -> set[str]:
    """Root STRING parameters that feed an importer's URI, directly or through sub-DAGs."""
    root = _mapping(spec.get("root"))
    parameters = _mapping(_mapping(root.get("inputDefinitions")).get("parameters"))
    return {
        name
        for name, definition in parameters.items()
        if _mapping(definition).get("parameterType") == "STRING"
        and _feeds_importer(spec, root, name, frozenset())
    }


def _feeds_importer(spec: Mapping[str, Any], component: Mapping[str, Any], parameter: str,
                    active: frozenset[str]) -> bool:
    components = _mapping(spec.get("components"))
    executors = _mapping(_mapping(spec.get("deploymentSpec")).get("executors"))
    tasks = _mapping(_mapping(component.get("dag")).get("tasks"))
    for task in tasks.values():
        task = _mapping(task)
        ref = str(_mapping(task.get("componentRef")).get("name") or "")
        child = _mapping(components.get(ref))
        inputs = _mapping(_mapping(task.get("inputs")).get("parameters"))
        for key, source in inputs.items():
            if _mapping(source).get("componentInputParameter") != parameter:
                continue
            if "dag" in child:
                if ref not in active and _feeds_importer(spec, child, key, active | {ref}):
                    return True
                continue
            executor = _mapping(executors.get(str(child.get("executorLabel") or "")))
            importer = _mapping(executor.get("importer"))
            if _mapping(importer.get("artifactUri")).get("runtimeParameter") == key:
                return True
    return False


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}

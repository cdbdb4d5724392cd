"""What gets submitted: a `Project` (compiled here) or a package file, as one `Prepared`.

A package file carries no manifests, so its plan is rebuilt from the package's interface
(`root.inputDefinitions` / `root.outputDefinitions`): that is enough to parse `-i` values with
the shared rule and to name outputs. It knows no boxes, so box-relative inputs and local
uploads need the manifests (or full URIs). A STRING parameter is a file input when its
description says it takes a full URI (as unip-kfp's compiler writes it), else a `str` value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import yaml

from ..config import Settings, find_config, load_settings
from ..errors import UsageError
from ..naming import env_name
from ..plan import Kind, PipelinePlan, Variable, default_user
from ..roles import Role

_PARAMETER_KINDS = {
    "NUMBER_INTEGER": Kind.INT,
    "NUMBER_DOUBLE": Kind.FLOAT,
    "STRUCT": Kind.DICT,
    "STRING": Kind.STR,
}


@dataclass(frozen=True)
class Prepared:
    """A pipeline ready to submit: its plan, package bytes, parsed spec and settings."""

    plan: PipelinePlan
    content: bytes
    spec: dict[str, Any]
    settings: Settings
    source: str  # for messages: the manifests' file or the package path

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.content).hexdigest()

    @property
    def pipeline_name(self) -> str:
        """`pipelineInfo.name`: the pipeline's folder under the pipeline root."""
        return str(self.spec.get("pipelineInfo", {}).get("name") or self.plan.name)


def prepare(
    target: Any, *, pipeline: str | None = None, cache: bool = False, parallel: bool = False
) -> Prepared:
    """Compile a `Project` (CompileError = exit 4), or read a package file or `CompiledPackage`."""
    from ..project import Project

    if isinstance(target, Project):
        plan = target.pipeline(pipeline)
        (package,) = target.compile(pipeline=plan.name, cache=cache, parallel=parallel)
        return Prepared(plan, package.content, parse_spec(package.content, plan.file),
                        target.settings, plan.file)
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError as exc:
            raise UsageError(f"cannot read the package {path}: {exc.strerror}") from None
        settings = load_settings(find_config([path]))
        return _from_package(content, path, settings, pipeline)
    data = getattr(target, "content", None)
    if isinstance(data, bytes):  # a CompiledPackage
        path = getattr(target, "path", None) or f"<package {getattr(target, 'pipeline', '')}>"
        return _from_package(data, path, Settings(), pipeline)
    raise UsageError(
        f"cannot submit {type(target).__name__}: pass a Project (unip_kfp.load(...)) or the "
        "path of a compiled pipeline package"
    )


def parse_spec(content: bytes, source: str) -> dict[str, Any]:
    """The pipeline spec (first YAML document) of a package; anything else is a usage error."""
    try:
        documents = [d for d in yaml.safe_load_all(content.decode("utf-8")) if d is not None]
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{source} is not a pipeline package: {exc}") from None
    spec = documents[0] if documents else None
    if not isinstance(spec, dict) or "pipelineInfo" not in spec or "root" not in spec:
        raise UsageError(
            f"{source} is not a pipeline package (no pipelineInfo/root); compile the "
            "manifests with `unip-kfp compile`, or pass their folder"
        )
    return spec


def unwrap_spec(spec: Any) -> dict[str, Any]:
    """The pipeline spec out of an API answer (`{pipeline_spec, platform_spec}` or bare)."""
    if isinstance(spec, dict) and "root" not in spec:
        inner = spec.get("pipeline_spec")
        if isinstance(inner, dict):
            return dict(inner)
    return dict(spec) if isinstance(spec, dict) else {}


def _from_package(content: bytes, source: str, settings: Settings,
                  pipeline: str | None) -> Prepared:
    spec = parse_spec(content, source)
    plan = plan_from_spec(spec, source, settings)
    if pipeline is not None and pipeline != plan.name:
        raise UsageError(f"{source} holds pipeline '{plan.name}', not '{pipeline}'")
    return Prepared(plan, content, spec, settings, source)


def plan_from_spec(spec: dict[str, Any], source: str, settings: Settings | None = None
                   ) -> PipelinePlan:
    """A stage-less plan with the package's parameters and outputs (see the module doc)."""
    root = spec.get("root") or {}
    info = spec.get("pipelineInfo") or {}
    variables = []
    parameters = (root.get("inputDefinitions") or {}).get("parameters") or {}
    for name, definition in parameters.items():
        kind = _PARAMETER_KINDS.get(str(definition.get("parameterType")), Kind.STR)
        description = str(definition.get("description") or "")
        if kind is Kind.STR and "full URI" in description:
            kind = Kind.FILE
        optional = bool(definition.get("isOptional")) or "defaultValue" in definition
        variables.append(Variable(name, Role.INPUT, kind, env_name(name), name, not optional,
                                  description))
    artifacts = (root.get("outputDefinitions") or {}).get("artifacts") or {}
    for name, definition in artifacts.items():
        variables.append(Variable(name, Role.OUTPUT, Kind.FILE, env_name(name), name, False,
                                  str(definition.get("description") or "")))
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

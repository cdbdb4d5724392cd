"""Pydantic models of the UNIP manifests, with the platform's own field names.

Known keys are typed strictly (a number where a string belongs is an error); unknown keys
are kept, not rejected, because the platform evolves: `unknown_keys` lists them so the
loader can warn with a "did you mean". Pydantic stays at this boundary: the plan built
from these models is plain frozen dataclasses.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from .yamlsource import FieldPath

API_VERSION = "unified-platform.cs.hse.ru/v1"
READ_KINDS = ("ExperimentPipeline", "APIComponent", "DataBox")
SKIPPED_KINDS = ("MLComponent", "PlatformApp", "Repository", "Secret")
DATATYPES = ("FP32", "FP64", "INT32", "dict", "str", "FILE", "website")
VALUE_DATATYPES = ("FP32", "FP64", "INT32", "dict", "str")  # passed as values, not files


class Model(BaseModel):
    """Base: camelCase aliases as in the manifests, strict types, unknown keys kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        extra="allow",
        frozen=True,
    )


class Metadata(Model):
    name: str
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class BoxRef(Model):
    name: str | None = None
    box_path: str = ""


class MountFrom(Model):
    box: BoxRef


class Var(Model):
    """A pipeline variable, or a stage's use of one (`inputs[]`/`outputs[]`)."""

    name: str
    path: str | None = None
    mount_from: MountFrom | None = None


class EnvVar(Model):
    name: str
    value: str


class Image(Model):
    existing_image_name: str


class EntryPoint(Model):
    cmd: list[str]


class ResourceLimits(Model):
    """cpu/memory as Kubernetes quantities; keys with a `/` (nvidia.com/gpu) are accelerators."""

    cpu: str | int | float | None = None
    memory: str | int | None = None

    def accelerators(self) -> dict[str, Any]:
        """The extended-resource keys (`vendor/resource: count`)."""
        return {k: v for k, v in (self.model_extra or {}).items() if "/" in k}


class Stage(Model):
    name: str
    image: Image
    inputs: list[Var] = Field(default_factory=list)
    outputs: list[Var] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    entry_point: EntryPoint
    resource_limits: ResourceLimits | None = None


class MountS3Box(Model):
    s3_box_name: str


class ConnectedBox(Model):
    name: str
    path: str | None = None
    default: bool = False
    mount_s3_box: MountS3Box


class PipelineSpec(Model):
    vars: list[Var] = Field(default_factory=list)
    stages: list[Stage]
    connected_boxes: list[ConnectedBox] = Field(default_factory=list)
    continue_with: Any = None


class DataType(Model):
    datatypes: list[str] | None = None
    content_types: list[str] | None = None

    @field_validator("datatypes")
    @classmethod
    def _known_datatypes(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item not in DATATYPES:
                raise ValueError(f"unknown datatype '{item}'; use one of {', '.join(DATATYPES)}")
        return value


class ApiVar(Model):
    name: str
    description: str | None = None
    required: bool = True
    type: DataType | None = None


class ApiSpec(Model):
    inputs: list[ApiVar] = Field(default_factory=list)
    outputs: list[ApiVar] = Field(default_factory=list)


class PipelineRef(Model):
    name: str


class PipelinesApi(Model):
    enabled: bool = False


class ApiComponentSpec(Model):
    published: bool | None = None
    experiment_pipeline: PipelineRef | None = None
    restful_api: dict[str, Any] | None = None
    api_spec: ApiSpec | None = None
    pipelines: PipelinesApi | None = None

    @field_validator("experiment_pipeline", mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        """`experimentPipeline: my-pipeline` is accepted as well as `{name: my-pipeline}`."""
        return {"name": value} if isinstance(value, str) else value


class S3DefaultStorage(Model):
    capacity: str | int | None = None


class DataBoxSpec(Model):
    s3_default_storage: S3DefaultStorage | None = None


class Manifest(Model):
    api_version: str
    kind: str
    metadata: Metadata


class ExperimentPipeline(Manifest):
    kind: Literal["ExperimentPipeline"]
    spec: PipelineSpec


class APIComponent(Manifest):
    kind: Literal["APIComponent"]
    spec: ApiComponentSpec


class DataBox(Manifest):
    kind: Literal["DataBox"]
    spec: DataBoxSpec = Field(default_factory=DataBoxSpec)


MODEL_BY_KIND: dict[str, type[Manifest]] = {
    "ExperimentPipeline": ExperimentPipeline,
    "APIComponent": APIComponent,
    "DataBox": DataBox,
}

# Fields whose contents are free-form on the platform side: no unknown-key warnings inside.
_OPAQUE = {"restful_api", "continue_with", "labels", "annotations"}


def known_keys(model: type[BaseModel]) -> list[str]:
    """The manifest spellings of a model's fields (what "did you mean" suggests)."""
    return [f.alias or n for n, f in model.model_fields.items()]


def unknown_keys(
    data: Any, model: type[BaseModel], path: FieldPath = ()
) -> Iterator[tuple[FieldPath, str, type[BaseModel]]]:
    """Yield (path, key, model) for every key of raw `data` that `model` does not declare.

    Works on the raw YAML data, not on a validated model, so unknown keys are reported
    even when the same document also has type errors.
    """
    if not isinstance(data, dict):
        return
    fields = {(f.alias or n): (n, f) for n, f in model.model_fields.items()}
    for key, value in data.items():
        if key not in fields:
            if not (model is ResourceLimits and "/" in str(key)):
                yield (*path, key), str(key), model
            continue
        name, info = fields[key]
        sub = _submodel(info.annotation)
        if sub is None or name in _OPAQUE:
            continue
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from unknown_keys(item, sub, (*path, key, index))
        else:
            yield from unknown_keys(value, sub, (*path, key))


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `X`, `X | None` or `list[X]`, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None

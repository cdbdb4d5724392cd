"""Pydantic models of the UNIP manifests, with the platform's own field names.

Known keys are typed strictly (a number where a string belongs is an error); unknown keys
are kept, not rejected, because the platform evolves: `unknown_keys` lists them so the
loader can warn with a "did you mean". Pydantic stays at this boundary (the plan is plain
frozen dataclasses). Descriptions and `json_schema_extra` only shape the JSON Schema for
editors (`json_schemas.py`); they never change what validates.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from . import schema_patterns
from .yaml_source import FieldPath

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
    model_config = ConfigDict(json_schema_extra=schema_patterns.require("namespace"))

    name: str = Field(
        description="Name of the component: lower-case letters, digits and '-', starting and "
        "ending with a letter or digit, at most 63 characters. APIComponents and API requests "
        "refer to the component by it.",
        json_schema_extra={"pattern": schema_patterns.DNS1123_LABEL, "maxLength": 63},
    )
    namespace: str | None = Field(
        None,
        description="Name of the application (module) the component belongs to; every "
        "component in a module's repository has the same namespace.",
        json_schema_extra=schema_patterns.string_only,
    )
    labels: dict[str, str] | None = Field(None, description="Kubernetes labels (unused here).")
    annotations: dict[str, str] | None = Field(None, description="Kubernetes annotations.")


class BoxRef(Model):
    name: str | None = Field(
        None,
        description="Name of a box in spec.connectedBoxes; without it, the default box.",
    )
    box_path: str = Field(
        "",
        description=schema_patterns.BOX_PATH_DOC,
        json_schema_extra={"pattern": schema_patterns.BOX_PATH},
    )


class MountFrom(Model):
    box: BoxRef = Field(description="The box and the path in it the data is mounted from.")


class Var(Model):
    """A pipeline variable, or a stage's use of one (`inputs[]`/`outputs[]`)."""

    name: str = Field(
        description="Variable name. In the container it is the environment variable "
        "UNIP_PIPELINE_<NAME> (upper-cased; characters other than A-Z, 0-9 and _ become _), "
        "holding a local path; in API calls it names the input or output.",
        json_schema_extra={"pattern": schema_patterns.NOT_BLANK},
    )
    path: str | None = Field(
        None,
        description="Absolute path in the container where the data appears, e.g. /data; "
        "the environment variable then holds this path.",
        json_schema_extra={"pattern": schema_patterns.ABSOLUTE_PATH},
    )
    mount_from: MountFrom | None = Field(
        None,
        description="Mount the data from a path in a connected box rather than from the API "
        "call, e.g. model weights every request uses. If the variable is also an API input, "
        "the mount is its default value.",
    )


class EnvVar(Model):
    name: str = Field(
        description="Variable name: letters, digits and '_', not starting with a digit; "
        "the prefix UNIP_PIPELINE_ is reserved for the pipeline's variables.",
        json_schema_extra={"pattern": schema_patterns.ENV_NAME},
    )
    value: str = Field(
        description='The value, always a string: quote numbers and booleans ("2", "true").'
    )


class Image(Model):
    existing_image_name: str = Field(
        description="An image in a registry, e.g. registry.example.com/lab/module-train:4f4621b. "
        "The platform requires images built on a -slim Python base image.",
        json_schema_extra={"pattern": schema_patterns.NOT_BLANK},
    )


class EntryPoint(Model):
    cmd: list[str] = Field(
        description="The command and its arguments; the items are joined with spaces into one "
        "shell command: [python3, src/training.py] runs `python3 src/training.py`.",
        json_schema_extra={"contains": {"type": "string", "pattern": schema_patterns.NOT_BLANK}},
    )


class ResourceLimits(Model):
    """cpu/memory as Kubernetes quantities; keys with a `/` (nvidia.com/gpu) are accelerators."""

    model_config = ConfigDict(json_schema_extra={"patternProperties": schema_patterns.ACCELERATORS})

    cpu: str | int | float | None = Field(
        None,
        description="CPU limit (also the request): cores (0.5, 2) or millicores (500m).",
        json_schema_extra=schema_patterns.quantity(schema_patterns.CPU_QUANTITY),
    )
    memory: str | int | None = Field(
        None,
        description="Memory limit (also the request): an integer with an optional suffix E, P, "
        "T, G, M, K or Ei, Pi, Ti, Gi, Mi, Ki, e.g. 256M or 1Gi.",
        json_schema_extra=schema_patterns.quantity(schema_patterns.MEMORY_QUANTITY),
    )

    def accelerators(self) -> dict[str, Any]:
        """The extended-resource keys (`vendor/resource: count`)."""
        return {k: v for k, v in (self.model_extra or {}).items() if "/" in k}


class Stage(Model):
    name: str = Field(
        description="Stage name, unique in the pipeline; the node's name in Kubeflow. Names "
        "that become kfp's own task names (importer, condition-N, for-loop-N, ...), root, "
        "executor or a name ending in -driver are taken, and so are the names of an input's "
        "steps (import-<input>, mount-<var>, ...).",
        json_schema_extra={
            "pattern": schema_patterns.NOT_BLANK,
            "not": {"pattern": schema_patterns.RESERVED_STAGE},
        },
    )
    image: Image = Field(description="The Docker image the stage's container runs.")
    inputs: list[Var] = Field(
        default_factory=list,
        description="Variables the stage reads (declared in spec.vars): each is an environment "
        "variable UNIP_PIPELINE_<NAME> holding the path of a file or folder.",
    )
    outputs: list[Var] = Field(
        default_factory=list,
        description="Variables the stage writes: each is a folder, created empty before the "
        "command starts, whose path is in UNIP_PIPELINE_<NAME>.",
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Environment variables set in the container (string values only).",
    )
    entry_point: EntryPoint = Field(description="The console command the container runs.")
    resource_limits: ResourceLimits | None = Field(
        None, description="CPU, memory and accelerator limits of the container."
    )


class MountS3Box(Model):
    s3_box_name: str = Field(description="metadata.name of the DataBox to connect.")


class ConnectedBox(Model):
    name: str = Field(
        description="Name of the box in this pipeline (mountFrom.box.name refers to it).",
        json_schema_extra={"pattern": schema_patterns.NOT_BLANK},
    )
    path: str | None = Field(
        None,
        description="Absolute path in the container where the box is mounted, e.g. /data.",
        json_schema_extra={"pattern": schema_patterns.ABSOLUTE_PATH},
    )
    default: bool = Field(
        False,
        description="Variables are mounted from this box unless they name another; at most "
        "one box is the default.",
    )
    mount_s3_box: MountS3Box = Field(description="The DataBox component (S3 box) connected.")


class PipelineSpec(Model):
    vars: list[Var] = Field(
        default_factory=list,
        description="Every variable of the pipeline: inputs and outputs (listed in its "
        "APIComponent) and internal variables, which are only handed from stage to stage.",
    )
    stages: list[Stage] = Field(
        description="The stages (containers), run one after another in this order."
    )
    connected_boxes: list[ConnectedBox] = Field(
        default_factory=list,
        description="DataBox components (S3 boxes) the pipeline uses, and where they are mounted.",
    )
    continue_with: Any = Field(
        None,
        description="A later platform key that chains another pipeline after this one; "
        "unip-kfp shows it and does not translate it.",
    )


class DataType(Model):
    datatypes: list[str] | None = Field(
        None,
        description="Allowed data types; none listed: any. FILE is a file or folder; FP32, "
        "FP64, INT32, dict and str are values the platform saves as text in a file the "
        "container reads; website is a report site (outputs).",
        json_schema_extra=schema_patterns.items_of(DATATYPES),
    )
    content_types: list[str] | None = Field(
        None,
        description="Allowed file types (MIME types such as text/csv) for FILE data; none or "
        "an empty list: any.",
    )

    @field_validator("datatypes")
    @classmethod
    def _known_datatypes(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item not in DATATYPES:
                raise ValueError(f"unknown datatype '{item}'; use one of {', '.join(DATATYPES)}")
        return value


class ApiVar(Model):
    name: str = Field(
        description="Variable name, as in the pipeline's spec.vars; API calls and the "
        "container (UNIP_PIPELINE_<NAME>) use it."
    )
    description: str | None = Field(
        None, description="Shown when the API's specification is requested (optional)."
    )
    required: bool = Field(
        True,
        description="Inputs: the caller must give it (default true); an optional input left "
        "out is absent in the container. Outputs are always optional.",
    )
    type: DataType | None = Field(None, description="Allowed data types and file types.")


class ApiSpec(Model):
    inputs: list[ApiVar] = Field(
        default_factory=list, description="Input variables: the `inputs` of an API call."
    )
    outputs: list[ApiVar] = Field(
        default_factory=list,
        description="Output variables: the `outputs` of an API call; always optional, and "
        "each value is a folder path, never a file.",
    )


class PipelineRef(Model):
    name: str = Field(description="metadata.name of the ExperimentPipeline.")


class PipelinesApi(Model):
    enabled: bool = Field(
        False, description="true: the module's general API for all of its pipelines."
    )


class ApiComponentSpec(Model):
    published: bool | None = Field(
        None, description="Whether the API is published (a platform setting)."
    )
    experiment_pipeline: PipelineRef | None = Field(
        None,
        description="The ExperimentPipeline this API runs, as {name: <metadata.name>} or the "
        "bare name.",
        json_schema_extra=schema_patterns.or_bare_name,
    )
    restful_api: dict[str, Any] | None = Field(
        None,
        description="REST API settings of the platform (authentication); not used by unip-kfp.",
        json_schema_extra=schema_patterns.RESTFUL_API,
    )
    api_spec: ApiSpec | None = Field(
        None, description="The pipeline's interface: its inputs and outputs."
    )
    pipelines: PipelinesApi | None = Field(
        None,
        description="`enabled: true` makes this the module's general pipelines API (one per "
        "module; only metadata and the credentials Secret change).",
    )

    @field_validator("experiment_pipeline", mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        """`experimentPipeline: my-pipeline` is accepted as well as `{name: my-pipeline}`."""
        return {"name": value} if isinstance(value, str) else value


class S3DefaultStorage(Model):
    capacity: str | int | None = Field(
        None, description="Size of the box's S3 storage, a Kubernetes quantity such as 1Gi."
    )


class DataBoxSpec(Model):
    s3_default_storage: S3DefaultStorage | None = Field(None, description="The box's S3 storage.")


class Manifest(Model):
    api_version: str = Field(
        description=f"Always {API_VERSION}.", json_schema_extra={"const": API_VERSION}
    )
    kind: str = Field(description="The component type.")
    metadata: Metadata = Field(description="The component's name and application.")


class ExperimentPipeline(Manifest):
    kind: Literal["ExperimentPipeline"] = Field(
        description="ExperimentPipeline: an asynchronous service that runs containers in stages."
    )
    spec: PipelineSpec = Field(description="Variables, stages and connected boxes.")


class APIComponent(Manifest):
    kind: Literal["APIComponent"] = Field(
        description="APIComponent: the API of a pipeline, or of all the module's pipelines."
    )
    spec: ApiComponentSpec = Field(description="What the API exposes, and how.")


class DataBox(Manifest):
    kind: Literal["DataBox"] = Field(description="DataBox: an S3 storage box of the module.")
    spec: DataBoxSpec = Field(default_factory=DataBoxSpec, description="The box's storage.")


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

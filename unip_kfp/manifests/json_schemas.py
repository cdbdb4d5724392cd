"""JSON Schemas of the manifests and of `unip-kfp.yaml`, generated from the models that validate.

One source of truth: the schemas come from `models.py` and `project_config.py` (their field
descriptions and `json_schema_extra`), so an editor flags what `validate` flags, as far as
one document can show it (cross-manifest rules stay with `validate`). The output is JSON
Schema draft-07, the newest draft the YAML language server behind VS Code's YAML extension
reads fully; JetBrains IDEs read it too. Unknown manifest keys stay allowed, because
validation only warns about them; unknown keys of `unip-kfp.yaml` are errors there, and so
here. The committed copies live in `schemas/` (`unip-kfp schema --write schemas`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..errors import UsageError
from . import models
from .project_config import ProjectConfig

DRAFT = "http://json-schema.org/draft-07/schema#"
_REF = "#/definitions/{model}"
MODELINE = "# yaml-language-server: $schema="


@dataclass(frozen=True)
class SchemaKind:
    """One schema: what it describes, its file name in `schemas/`, and the names it answers to."""

    key: str
    file: str
    title: str
    description: str
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.key, self.file, self.file.removesuffix(".schema.json"), *self.aliases)


_MODULE_DOC = (
    "Manifests of a UNIP module share apiVersion, kind, metadata (name, namespace) and spec. "
    "unip-kfp reads ExperimentPipeline, APIComponent and DataBox, and skips MLComponent, "
    "PlatformApp, Repository and Secret."
)
KINDS = (
    SchemaKind(
        "manifest",
        "manifest.schema.json",
        "UNIP manifest (any kind)",
        _MODULE_DOC + " This schema picks the kind's schema by `kind`.",
        ("any", "manifests"),
    ),
    SchemaKind(
        "ExperimentPipeline",
        "experiment-pipeline.schema.json",
        "UNIP ExperimentPipeline",
        "An asynchronous pipeline: stages run Docker containers one after another; variables "
        "reach a container as UNIP_PIPELINE_<NAME> environment variables holding paths, and "
        "results are written into output folders.",
        ("pipeline",),
    ),
    SchemaKind(
        "APIComponent",
        "api-component.schema.json",
        "UNIP APIComponent",
        "The API of one ExperimentPipeline (its inputs, outputs, types and descriptions), or "
        "with pipelines.enabled the module's general API for all of its pipelines.",
        ("api",),
    ),
    SchemaKind(
        "DataBox",
        "data-box.schema.json",
        "UNIP DataBox",
        "An S3 storage box of the module; pipelines connect it in spec.connectedBoxes.",
        ("box",),
    ),
    SchemaKind(
        "unip-kfp.yaml",
        "unip-kfp.schema.json",
        "unip-kfp project file (unip-kfp.yaml)",
        "What the manifests cannot know about one Kubeflow install: box URIs and their "
        "Secrets, image pull secrets, node selectors and tolerations, S3 and Kubeflow "
        "settings. Never credentials: those come from the environment or Kubernetes Secrets.",
        ("config", "unip-kfp", "project"),
    ),
)
_MODELS: dict[str, type[BaseModel]] = {**models.MODEL_BY_KIND, "unip-kfp.yaml": ProjectConfig}


def find_kind(name: str) -> SchemaKind:
    """The schema called `name` (kind, file name or alias, any case); else a usage error."""
    wanted = _normal(name)
    for kind in KINDS:
        if wanted in (_normal(n) for n in kind.names()):
            return kind
    known = ", ".join(k.key for k in KINDS)
    raise UsageError(f"no schema for '{name}'; choose one of: {known}")


def _normal(name: str) -> str:
    return "".join(c for c in name.lower() if c not in "-_ ")


def generate(kind: SchemaKind) -> dict[str, Any]:
    """The schema document of `kind`, draft-07, with its definitions."""
    if kind.key == "manifest":
        body = _any_manifest()
    else:
        body = _draft7(
            _MODELS[kind.key].model_json_schema(by_alias=True, ref_template=_REF),
            definition=True,
        )
    return {
        "$schema": DRAFT,
        "title": kind.title,
        "description": kind.description,
        **body,
    }


def schema_text(kind: SchemaKind) -> str:
    """The schema as committed: indented JSON, one final newline, deterministic."""
    return json.dumps(generate(kind), indent=2, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """Every schema by file name, as `schemas/` holds them."""
    return {kind.file: schema_text(kind) for kind in KINDS}


def write_schemas(folder: str) -> list[str]:
    """Write every schema into `folder` (created if needed); return the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, text in schema_files().items():
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written


def modeline(kind: str, schema_folder: str, yaml_file: str) -> str:
    """The comment line that binds `yaml_file` to the schema of `kind` in `schema_folder`."""
    target = os.path.join(schema_folder, find_kind(kind).file)
    relative = os.path.relpath(target, os.path.dirname(os.path.abspath(yaml_file)))
    return MODELINE + relative.replace(os.sep, "/")


def _any_manifest() -> dict[str, Any]:
    """Dispatch on `kind`: each read kind's schema; skipped kinds are not checked further."""
    chosen = [(m, "validation") for m in models.MODEL_BY_KIND.values()]
    _, defs = models_json_schema(chosen, by_alias=True, ref_template=_REF)  # type: ignore[arg-type]
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {
                "description": "The component type.",
                "enum": [*models.READ_KINDS, *models.SKIPPED_KINDS],
            }
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": _REF.format(model=kind)},
            }
            for kind in models.READ_KINDS
        ],
        "definitions": _draft7(defs, definition=False)["definitions"],
    }


_MAPS = ("properties", "patternProperties")
_LISTS = ("anyOf", "allOf", "oneOf")
_SINGLE = ("items", "additionalProperties", "not", "contains", "if", "then", "else")


def _draft7(node: dict[str, Any], *, definition: bool) -> dict[str, Any]:
    """pydantic's output as draft-07: `definitions`, no titles, no `$ref` siblings.

    Titles are pydantic's field names and docstrings are notes for developers, so both go;
    a `$ref` with a description beside it (ignored in draft-07) moves into `allOf`.
    """
    result = {
        key: value
        for key, value in node.items()
        if key != "title" and not (definition and key == "description")
    }
    if "$defs" in result:
        defs = result.pop("$defs")
        result["definitions"] = {n: _draft7(d, definition=True) for n, d in defs.items()}
    for key in _MAPS:
        if isinstance(result.get(key), dict):
            result[key] = {n: _draft7(s, definition=False) for n, s in result[key].items()}
    for key in _LISTS:
        if isinstance(result.get(key), list):
            result[key] = [_draft7(s, definition=False) for s in result[key]]
    for key in _SINGLE:
        if isinstance(result.get(key), dict):
            result[key] = _draft7(result[key], definition=False)
    if "$ref" in result and len(result) > 1:
        result["allOf"] = [{"$ref": result.pop("$ref")}, *result.get("allOf", [])]
    return result


__all__ = [
    "DRAFT",
    "KINDS",
    "MODELINE",
    "SchemaKind",
    "find_kind",
    "generate",
    "modeline",
    "schema_files",
    "schema_text",
    "write_schemas",
]

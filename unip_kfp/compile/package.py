"""Compile a planned pipeline into a KFP pipeline package (IR YAML) and write it safely.

The same plan always gives the same bytes: kfp's compiler is deterministic for a given
graph, and the graph is built in manifest order with stable names.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CompileError, UsageError
from ..plan.model import PipelinePlan
from .refusals import raised_by_kfp

if TYPE_CHECKING:
    from .pipeline import CompileOptions

# kfp is imported inside the functions that compile, so `is_package` stays cheap for the CLI.

PACKAGE_HEADER = "# PIPELINE DEFINITION"
LINE_WIDTH = 1 << 20
"""No folding of long scalars: the wrapper script, repeated in every executor, stays one
line instead of gaining a line break and ten spaces of indentation every 80 columns."""


@dataclass(frozen=True)
class CompiledPackage:
    """A compiled pipeline: its bytes, and where it was written (if it was)."""

    pipeline: str
    content: bytes
    path: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def compile_to_bytes(plan: PipelinePlan, options: CompileOptions | None = None) -> bytes:
    """The package YAML of `plan`; kfp's refusals become CompileError (exit 4)."""
    from .pipeline import CompileOptions, build_pipeline

    component = build_pipeline(plan, options or CompileOptions())
    return _serialise(component, f"pipeline '{plan.name}'")


def _serialise(component: Any, what: str) -> bytes:
    """What `kfp.compiler.Compiler().compile` writes, serialised with libyaml.

    Same documents, same header comments, same key order as kfp's writer; only the YAML
    emitter and the line width differ. kfp dumps with pure-Python PyYAML, which spends most
    of a large compile re-escaping the (constant) wrapper script of every executor.
    """
    import yaml
    from google.protobuf import json_format
    from kfp.compiler import pipeline_spec_builder

    try:
        spec = json_format.MessageToDict(component.pipeline_spec)
        documents = [spec]
        if len(component.platform_spec.platforms) > 0:
            documents.append(json_format.MessageToDict(component.platform_spec))
        header = pipeline_spec_builder.extract_comments_from_pipeline_spec(
            spec, component.description
        )
    except Exception as exc:  # kfp refuses with many types (refusals.py)
        if not raised_by_kfp(exc):
            raise  # a bug of ours: the CLI reports an internal error (exit 70)
        raise CompileError(f"{what}: Kubeflow Pipelines refused to compile it: {exc}") from exc
    dumper = getattr(yaml, "CDumper", yaml.Dumper)  # the same emitter kfp uses, in C
    body = yaml.dump_all(documents, Dumper=dumper, sort_keys=True, width=LINE_WIDTH)
    return (header + body).encode("utf-8")


def output_paths(names: list[str], output: str | None) -> dict[str, str]:
    """Where each pipeline's package goes: `-o FILE` for one, else `<dir>/<name>.yaml`."""
    if output and output.endswith((".yaml", ".yml")) and not os.path.isdir(output):
        if len(names) > 1:
            raise UsageError(f"-o {output}: {len(names)} pipelines need a folder, not one file")
        return {names[0]: output}
    folder = output or "."
    return {name: os.path.join(folder, f"{name}.yaml") for name in names}


def write_package(path: str, content: bytes, *, force: bool = False) -> None:
    """Write atomically; never replace a file that is not a pipeline package (unless forced)."""
    if os.path.isdir(path):
        raise UsageError(f"{path} is a folder")
    if os.path.exists(path) and not force and not is_package(path):
        raise UsageError(
            f"{path} exists and is not a pipeline package; refusing to overwrite it "
            "(choose another -o, or --force)"
        )
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".unip-kfp-{secrets.token_hex(8)}.yaml")
    # O_EXCL like mkstemp, but mode 0666 so the umask decides (mkstemp would force 0600).
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def is_package(path: str) -> bool:
    """A compiled KFP package (by its first bytes), as opposed to manifests or other YAML."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return (
        head.startswith(PACKAGE_HEADER.encode())
        or b"pipelineInfo:" in head
        or b"deploymentSpec:" in head
    )


def component_to_bytes(plan: PipelinePlan, stage_name: str) -> bytes:
    """One stage as a reusable component YAML (loads with `kfp.components.load_component_*`)."""
    from .components import stage_component

    stage = next(s for s in plan.stages if s.name == stage_name)
    return _serialise(
        stage_component(plan, stage), f"stage '{stage.name}' of pipeline '{plan.name}'"
    )

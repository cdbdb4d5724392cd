"""Find a finished run's output artifacts in the object store (KFP 2.17 has no API for it).

The 2.17 backend answers `get_run` with `task_details` whose `outputs` are always empty
(kubeflow/pipelines#9858), and no released v2beta1 route lists artifacts. What is fixed is
where the launcher writes them (research notes, kfp-2.17-outputs.md §1):

    <pipeline_root>/<pipelineInfo.name>/<run_id>/<task key>/<uuid>/<output>[/<file>...]

* `pipeline_root` is what we passed at submission (`kubeflow.pipelineRoot` in unip-kfp.yaml,
  default `minio://mlpipeline/v2/artifacts`); passing it explicitly is what makes the path
  knowable, because the cluster's default can differ per namespace (`kfp-launcher` ConfigMap).
* `<task key>` is the producing task's key in `root.dag.tasks` (not its display name); the
  pipeline's `root.dag.outputs.artifacts[<output>].artifactSelectors` names it
  (`producerSubtask`) together with the task's own output key (`outputArtifactKey`).
* `<uuid>` is a random salt the driver makes per task execution. We require exactly one.
  None means a cache hit (the outputs live under an earlier run), a skipped stage, or a stage
  that wrote nothing; several mean the task ran more than once (loops, retries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RunFailedError
from ..s3 import Location
from .storage import Storage


@dataclass(frozen=True)
class OutputRef:
    """A pipeline output: the task that produces it and that task's output key."""

    name: str
    task: str
    output: str


@dataclass(frozen=True)
class Artifact:
    """A located artifact: its location and the object names under it ('' = a single file)."""

    location: Location
    names: list[str]

    @property
    def is_file(self) -> bool:
        return self.names == [""]


def output_refs(spec: dict[str, Any]) -> dict[str, OutputRef]:
    """Pipeline outputs by name, from `root.dag.outputs.artifacts` of the pipeline spec."""
    outputs = ((spec.get("root") or {}).get("dag") or {}).get("outputs") or {}
    refs = {}
    for name, selector in (outputs.get("artifacts") or {}).items():
        chosen = (selector.get("artifactSelectors") or [{}])[0]
        task, key = chosen.get("producerSubtask"), chosen.get("outputArtifactKey")
        if task and key:
            refs[name] = OutputRef(name, str(task), str(key))
    return refs


def run_folder(pipeline_root: str, spec: dict[str, Any], run_id: str) -> Location:
    """`<pipeline_root>/<pipelineInfo.name>/<run_id>` (a `?query` on the root is dropped)."""
    root = Location.parse(pipeline_root.split("?", 1)[0])
    name = str((spec.get("pipelineInfo") or {}).get("name") or "")
    return root.child(name, run_id)


def locate(storage: Storage, folder: Location, ref: OutputRef, *, cached: bool = False
           ) -> Artifact:
    """The artifact of `ref` under the run folder; exactly one execution must have written it."""
    task_folder = folder.child(ref.task)
    found: dict[str, list[str]] = {}
    for name in storage.names(task_folder):
        salt, _, rest = name.partition("/")
        head, _, tail = rest.partition("/")
        if head == ref.output:
            found.setdefault(salt, []).append(tail)
    if len(found) != 1:
        where = f"{task_folder.uri}/<uuid>/{ref.output}"
        if not found:
            reason = (
                "the stage was a cache hit (its outputs are under an earlier run)"
                if cached
                else "the stage wrote nothing there"
            )
            raise RunFailedError(
                f"output '{ref.name}' not found at {where}: {reason}, or the cluster writes "
                "artifacts under another pipeline root (kubeflow.pipelineRoot in unip-kfp.yaml "
                "must match where the run stored them)"
            )
        raise RunFailedError(
            f"output '{ref.name}': {len(found)} executions of task '{ref.task}' wrote it "
            f"({', '.join(sorted(found))} under {task_folder.uri}/); cannot tell which to take"
        )
    ((salt, names),) = found.items()
    return Artifact(task_folder.child(salt, ref.output), sorted(names))

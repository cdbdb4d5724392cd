"""Box credentials a stage's pod can hold on Kubeflow (KFP 2.17's launcher, SPEC §4).

With `kubeflow.credentials: env` (the default) a box's Secret becomes the pod's AWS_*
variables, and the launcher downloads every input of a stage with that one set: a stage
that reads boxes with different Secrets cannot be run. With `launcher`, the namespace's
`kfp-launcher` providers hold the Secrets, but the launcher reads a box outside the
pipeline root's bucket with the pod's own environment (`plan/launcher_credentials.py`
has the details): a warning, an error under `--strict`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import Issue, Severity
from ..manifests import models
from ..manifests.loader import Loaded
from ..manifests.project_config import Settings
from .boxes import Box, Place, StageReads, boxes_read

DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
REACH = ("kubeflow", "credentials")  # where the launcher-reach warnings point


def pipeline_root(settings: Settings) -> str:
    return settings.config.kubeflow.pipeline_root or DEFAULT_PIPELINE_ROOT


def secret_issues(
    pipeline: models.ExperimentPipeline,
    loaded: Loaded,
    boxes: tuple[Box, ...],
    reads: list[StageReads],
    settings: Settings,
) -> list[Issue]:
    """With `credentials: env`: an error per stage that needs two different box Secrets."""
    if settings.config.kubeflow.credentials == "launcher":
        return []
    issues = []
    for index, (stage, read) in enumerate(zip(pipeline.spec.stages, reads, strict=True)):
        secrets = {(b.secret, b.secret_keys) for b in boxes_read(boxes, [read]) if b.secret}
        if len(secrets) > 1:
            issues.append(
                loaded.issue(
                    Severity.ERROR,
                    ("spec", "stages", index, "inputs"),
                    f"stage '{stage.name}' reads from boxes with different Secrets "
                    f"({', '.join(sorted(str(s) for s, _ in secrets))}); Kubeflow downloads "
                    "all of a stage's inputs with one set of credentials",
                    "use one Secret for these boxes, "
                    "or set kubeflow.credentials: launcher in unip-kfp.yaml",
                )
            )
    return issues


def outside_root_issues(boxes: Iterable[tuple[str, str]], settings: Settings) -> list[Issue]:
    """With `credentials: launcher`: a warning per box read outside the pipeline root's bucket.

    `boxes` are (name, URI) of the boxes the stages read (`boxes.boxes_read`, or a plan's).
    """
    if settings.config.kubeflow.credentials != "launcher":
        return []
    root = Place.of(pipeline_root(settings))
    found: dict[str, Issue] = {}
    for name, uri in boxes:
        place = Place.of(uri)
        if place is None or root is None or (place.scheme, place.bucket) == (
            root.scheme, root.bucket
        ):
            continue
        issue = settings.issue(
            REACH,
            f"box '{name}' ({uri}) is outside the pipeline root's bucket "
            f"({root.scheme}://{root.bucket}): KFP 2.17's launcher reads it with the stage "
            "pod's own environment, not with the kfp-launcher providers",
            "keep the box in the pipeline root's bucket (or set kubeflow.pipelineRoot in its "
            "bucket), give the pods a workload identity, or use credentials: env",
        )
        found[issue.message] = Issue(
            Severity.WARNING, issue.message, issue.file, issue.line, issue.field, issue.hint
        )
    return [found[m] for m in sorted(found)]


def launcher_reach(issues: Iterable[Issue]) -> list[Issue]:
    """The launcher-reach warnings among a checked project's issues (`doctor` shows them)."""
    return [i for i in issues if i.field == ".".join(REACH)]

"""The one checking pass: every rule that can refuse the manifests or `unip-kfp.yaml`.

`check_project` is what `validate` runs and what the plan refuses from, so `validate` exit 0
means `plan` and `compile` succeed with the same options (SPEC §2). Besides the manifest
rules (`cross_manifest`) it checks what only the project file and the command line add:
configured stages that exist, `--box` names that exist, and the box Secrets Kubeflow can
hand a stage's pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import Issue, ManifestError, Severity, did_you_mean
from ..manifests import models
from ..manifests.loader import ManifestSet, load_project
from ..manifests.project_config import Settings, find_config, load_settings
from .boxes import box_places, boxes_read, stage_reads
from .credentials import outside_root_issues, secret_issues
from .cross_manifest import check_manifests


def check_project(
    manifests: ManifestSet,
    settings: Settings | None = None,
    *,
    boxes: Mapping[str, str] | None = None,
) -> list[Issue]:
    """Every problem of the project, errors and warnings; never raises.

    `boxes` are the `--box NAME=URI` overrides. Warnings keep their severity: the caller
    decides what `--strict` makes of them.
    """
    settings = settings or Settings()
    issues = check_manifests(manifests)
    issues += _pipeline_present(manifests)
    issues += _box_options(manifests, boxes or {})
    issues += _configured_stages(manifests, settings)
    issues += _box_credentials(manifests, settings, boxes or {})
    return issues


def check_files(
    paths: Sequence[str],
    *,
    config: str | None = None,
    boxes: Mapping[str, str] | None = None,
) -> list[Issue]:
    """Read the manifests at `paths` and their `unip-kfp.yaml` (as `unip_kfp.load` finds it)
    and check them all; a bad project file is reported along with the manifests' problems.
    """
    path_list = tuple(paths)
    try:
        settings, issues = load_settings(config or find_config(path_list)), []
    except ManifestError as exc:  # the file's own schema: the rest is checked without it
        settings, issues = Settings(), list(exc.issues)
    return issues + check_project(load_project(path_list), settings, boxes=boxes)


def _pipeline_present(manifests: ManifestSet) -> list[Issue]:
    """A project without a pipeline has nothing to plan (unless a file is unreadable: it
    may hold the pipeline, and its own issue says enough)."""
    if any(i.severity is Severity.ERROR for i in manifests.issues):
        return []
    names = [m.metadata.name for m, _ in manifests.checked(models.ExperimentPipeline)]
    names += [n for kind, n in manifests.unparsed if kind == "ExperimentPipeline"]
    if names:
        return []
    return [
        Issue(
            Severity.ERROR,
            "no ExperimentPipeline among the manifests",
            ", ".join(manifests.paths),
            hint="add the pipeline's manifest or point to its folder",
        )
    ]


def _box_options(manifests: ManifestSet, boxes: Mapping[str, str]) -> list[Issue]:
    """Each `--box NAME=URI` names a connected box or the DataBox one connects."""
    known = {
        name
        for pipeline, _ in manifests.checked(models.ExperimentPipeline)
        for box in pipeline.spec.connected_boxes
        for name in (box.name, box.mount_s3_box.s3_box_name)
    }
    issues = []
    for name in boxes:
        if name not in known:
            guess = did_you_mean(name, known)
            issues.append(
                Issue(
                    Severity.ERROR,
                    f"no connected box or DataBox named '{name}' "
                    f"(boxes: {', '.join(sorted(known)) or 'none'})",
                    field=f"--box {name}",
                    hint=f"did you mean '{guess}'?" if guess else "name a box of the pipelines",
                )
            )
    return issues


def _configured_stages(manifests: ManifestSet, settings: Settings) -> list[Issue]:
    """Every stage named under `stages:` in unip-kfp.yaml must exist (a typo would be silent)."""
    known = [
        s.name
        for pipeline, _ in manifests.checked(models.ExperimentPipeline)
        for s in pipeline.spec.stages
    ]
    issues = []
    for name in settings.config.stages:
        if name not in known:
            guess = did_you_mean(name, known)
            issues.append(
                settings.issue(
                    ("stages", name),
                    f"no stage named '{name}' in the pipelines",
                    f"did you mean '{guess}'?" if guess else f"stages: {', '.join(known)}",
                )
            )
    return issues


def _box_credentials(
    manifests: ManifestSet, settings: Settings, overrides: Mapping[str, str]
) -> list[Issue]:
    """Box Secrets per stage (env) or the launcher's reach (launcher), for parsed pipelines."""
    apis = {
        a.spec.experiment_pipeline.name: a.spec.api_spec or models.ApiSpec()
        for a, _ in manifests.of_kind(models.APIComponent)
        if a.spec.experiment_pipeline is not None
    }
    issues: list[Issue] = []
    read: dict[tuple[str, str], None] = {}
    for pipeline, loaded in manifests.of_kind(models.ExperimentPipeline):
        places = box_places(pipeline, settings, overrides)
        reads = stage_reads(pipeline.spec, apis.get(pipeline.metadata.name), places)
        issues += secret_issues(pipeline, loaded, places, reads, settings)
        read.update(dict.fromkeys((b.name, b.uri) for b in boxes_read(places, reads)))
    return issues + outside_root_issues(read, settings)

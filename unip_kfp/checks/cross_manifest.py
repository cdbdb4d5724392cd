"""The semantic rules of SPEC §2, checked across all loaded manifests at once.

`check_manifests` returns every problem (errors and warnings); it never raises. Each issue
names the file, the line, the field path and what to do.
"""

from __future__ import annotations

from ..errors import Issue, Severity, did_you_mean
from ..manifests import models
from ..manifests.loader import Loaded, ManifestSet
from ..manifests.yaml_source import FieldPath
from ..naming import is_dns1123_label
from .pipeline_rules import PipelineChecker

ERROR, WARNING = Severity.ERROR, Severity.WARNING


def check_manifests(manifests: ManifestSet) -> list[Issue]:
    """All cross-field and cross-manifest rules; the loader already checked the schema."""
    issues: list[Issue] = list(manifests.issues)
    issues += _check_metadata(manifests)
    pipelines = manifests.of_kind(models.ExperimentPipeline)
    apis = _pipeline_apis(manifests, issues)
    box_names = {m.metadata.name for m, _ in manifests.of_kind(models.DataBox)}
    for pipeline, loaded in pipelines:
        api = apis.get(pipeline.metadata.name)
        issues += PipelineChecker(pipeline, loaded, api, box_names).run()
    return issues


def _check_metadata(manifests: ManifestSet) -> list[Issue]:
    issues: list[Issue] = []
    namespaces: dict[str, Loaded] = {}
    seen: dict[tuple[str, str], Loaded] = {}
    for loaded in manifests.manifests:
        meta = loaded.model.metadata
        if not is_dns1123_label(meta.name):
            issues.append(
                loaded.issue(
                    ERROR,
                    ("metadata", "name"),
                    f"'{meta.name}' is not a valid name",
                    "use lower-case letters, digits and '-', starting and ending with a letter or "
                    "digit, at most 63 characters",
                )
            )
        if meta.namespace is None:
            issues.append(
                loaded.issue(
                    ERROR,
                    ("metadata", "namespace"),
                    "required field 'namespace' is missing",
                    "set the module's namespace (the same in every manifest)",
                )
            )
        else:
            namespaces.setdefault(meta.namespace, loaded)
        key = (loaded.model.kind, meta.name)
        if key in seen:
            first = seen[key]
            issues.append(
                loaded.issue(
                    ERROR,
                    ("metadata", "name"),
                    f"duplicate {key[0]} '{meta.name}' "
                    f"(also in {first.doc.file}:{first.line(('metadata', 'name'))})",
                    "give each manifest of a kind its own name",
                )
            )
        seen.setdefault(key, loaded)
    if len(namespaces) > 1:
        # The pipeline's namespace is the reference: blame every manifest that differs from it.
        reference = next(
            (
                m.model.metadata.namespace
                for m in manifests.manifests
                if isinstance(m.model, models.ExperimentPipeline) and m.model.metadata.namespace
            ),
            next(iter(namespaces)),
        )
        first = namespaces[reference]
        for loaded in manifests.manifests:
            namespace = loaded.model.metadata.namespace
            if namespace is None or namespace == reference:
                continue
            issues.append(
                loaded.issue(
                    ERROR,
                    ("metadata", "namespace"),
                    f"namespace '{namespace}' differs from '{reference}' "
                    f"({first.doc.file}:{first.line(('metadata', 'namespace'))})",
                    "all components of a module share one metadata.namespace",
                )
            )
    return issues


def _pipeline_apis(
    manifests: ManifestSet, issues: list[Issue]
) -> dict[str, tuple[models.APIComponent, Loaded]]:
    """APIComponents by the pipeline they name; a missing pipeline or a second API is an error."""
    pipelines = [m.metadata.name for m, _ in manifests.of_kind(models.ExperimentPipeline)]
    pipelines += [name for kind, name in manifests.unparsed if kind == "ExperimentPipeline"]
    found: dict[str, tuple[models.APIComponent, Loaded]] = {}
    for api, loaded in manifests.of_kind(models.APIComponent):
        ref = api.spec.experiment_pipeline
        if ref is None:
            continue
        path: FieldPath = ("spec", "experimentPipeline", "name")
        if ref.name not in pipelines:
            guess = did_you_mean(ref.name, pipelines)
            issues.append(
                loaded.issue(
                    ERROR,
                    path,
                    f"names pipeline '{ref.name}', which is not among the manifests",
                    f"did you mean '{guess}'?"
                    if guess
                    else "add its ExperimentPipeline manifest or fix the name",
                )
            )
        elif ref.name in found:
            other = found[ref.name][1]
            issues.append(
                loaded.issue(
                    ERROR,
                    path,
                    f"pipeline '{ref.name}' already has an APIComponent "
                    f"('{other.model.metadata.name}' in {other.doc.file})",
                    "keep one APIComponent per ExperimentPipeline",
                )
            )
        else:
            found[ref.name] = (api, loaded)
    return found


__all__ = ["check_manifests"]

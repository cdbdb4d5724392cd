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
    """All cross-field and cross-manifest rules; the loader already checked the schema.

    Documents the schema refused are checked too, as partial models, so that one run
    reports every problem of a file.
    """
    issues: list[Issue] = list(manifests.issues)
    every = [*manifests.manifests, *manifests.partial]
    issues += _check_names(every)
    issues += _check_namespaces(every)
    apis = _pipeline_apis(manifests, issues)
    box_names = {m.metadata.name for m, _ in manifests.checked(models.DataBox)}
    for pipeline, loaded in manifests.checked(models.ExperimentPipeline):
        api = apis.get(pipeline.metadata.name)
        issues += PipelineChecker(pipeline, loaded, api, box_names).run()
    return issues


def _report(
    issues: list[Issue], loaded: Loaded, path: FieldPath, message: str, hint: str
) -> None:
    """An error at `path`, unless the schema already refused that field."""
    if not loaded.refused(path):
        issues.append(loaded.issue(ERROR, path, message, hint))


def _check_names(every: list[Loaded]) -> list[Issue]:
    """Each manifest has a valid name, unique among the manifests of its kind."""
    issues: list[Issue] = []
    seen: dict[tuple[str, str], Loaded] = {}
    for loaded in every:
        name = loaded.model.metadata.name
        if not is_dns1123_label(name):
            _report(
                issues,
                loaded,
                ("metadata", "name"),
                f"'{name}' is not a valid name",
                "use lower-case letters, digits and '-', starting and ending with a letter or "
                "digit, at most 63 characters",
            )
        key = (loaded.model.kind, name)
        if key in seen:
            first = seen[key]
            _report(
                issues,
                loaded,
                ("metadata", "name"),
                f"duplicate {key[0]} '{name}' "
                f"(also in {first.doc.file}:{first.line(('metadata', 'name'))})",
                "give each manifest of a kind its own name",
            )
        seen.setdefault(key, loaded)
    return issues


def _check_namespaces(every: list[Loaded]) -> list[Issue]:
    """Every manifest names one namespace, the same in all (the pipeline's is the reference)."""
    issues: list[Issue] = []
    namespaces: dict[str, Loaded] = {}
    for loaded in every:
        namespace = loaded.model.metadata.namespace
        if namespace is None:
            _report(
                issues,
                loaded,
                ("metadata", "namespace"),
                "required field 'namespace' is missing",
                "set the module's namespace (the same in every manifest)",
            )
        else:
            namespaces.setdefault(namespace, loaded)
    if len(namespaces) <= 1:
        return issues
    reference = next(
        (
            m.model.metadata.namespace
            for m in every
            if isinstance(m.model, models.ExperimentPipeline) and m.model.metadata.namespace
        ),
        next(iter(namespaces)),
    )
    first = namespaces[reference]
    for loaded in every:
        namespace = loaded.model.metadata.namespace
        if namespace is not None and namespace != reference:
            _report(
                issues,
                loaded,
                ("metadata", "namespace"),
                f"namespace '{namespace}' differs from '{reference}' "
                f"({first.doc.file}:{first.line(('metadata', 'namespace'))})",
                "all components of a module share one metadata.namespace",
            )
    return issues


def _pipeline_apis(
    manifests: ManifestSet, issues: list[Issue]
) -> dict[str, tuple[models.APIComponent, Loaded]]:
    """APIComponents by the pipeline they name; a missing pipeline or a second API is an error."""
    pipelines = [m.metadata.name for m, _ in manifests.checked(models.ExperimentPipeline)]
    pipelines += [name for kind, name in manifests.unparsed if kind == "ExperimentPipeline"]
    found: dict[str, tuple[models.APIComponent, Loaded]] = {}
    for api, loaded in manifests.checked(models.APIComponent):
        ref = api.spec.experiment_pipeline
        if ref is None:
            continue
        path: FieldPath = ("spec", "experimentPipeline", "name")
        if ref.name not in pipelines:
            guess = did_you_mean(ref.name, pipelines)
            _report(
                issues,
                loaded,
                path,
                f"names pipeline '{ref.name}', which is not among the manifests",
                f"did you mean '{guess}'?"
                if guess
                else "add its ExperimentPipeline manifest or fix the name",
            )
        elif ref.name in found:
            other = found[ref.name][1]
            _report(
                issues,
                loaded,
                path,
                f"pipeline '{ref.name}' already has an APIComponent "
                f"('{other.model.metadata.name}' in {other.doc.file})",
                "keep one APIComponent per ExperimentPipeline",
            )
        else:
            found[ref.name] = (api, loaded)
    return found


__all__ = ["check_manifests"]

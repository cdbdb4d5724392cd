"""The Python API behind the CLI: load manifests once, then plan, compile and run them.

    import unip_kfp
    project = unip_kfp.load("examples/train-test/manifests")
    package = project.compile(output="out/")          # KFP pipeline package(s)
    result = project.run_local(inputs={"xy_train": "./data/xy_train.csv", ...})

kfp is imported only by the methods that need it, so loading and planning stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import Issue
from .launch.prepared import Prepared, module_folder, parse_spec
from .manifests.loader import ManifestSet, load_project
from .manifests.project_config import Settings, find_config, load_settings
from .plan.build import build_plan
from .plan.model import PipelinePlan, ProjectPlan

if TYPE_CHECKING:
    from .compile.package import CompiledPackage


@dataclass(frozen=True)
class Project:
    """Manifests read from disk, validated and planned, with the settings that shaped the plan."""

    paths: tuple[str, ...]
    manifests: ManifestSet
    plan: ProjectPlan
    settings: Settings

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return self.plan.warnings

    @property
    def pipelines(self) -> tuple[PipelinePlan, ...]:
        return self.plan.pipelines

    def pipeline(self, name: str | None = None) -> PipelinePlan:
        """One pipeline: the one named, or the only one there is."""
        from .errors import UsageError

        chosen = self.plan.select(name)
        if len(chosen) > 1:
            raise UsageError(
                "several pipelines here ("
                + ", ".join(p.name for p in chosen)
                + "): choose one with --pipeline"
            )
        return chosen[0]

    def compile(
        self,
        output: str | None = None,
        *,
        pipeline: str | None = None,
        cache: bool = False,
        parallel: bool = False,
        force: bool = False,
    ) -> list[CompiledPackage]:
        """Compile the pipeline(s) to KFP packages; write them when `output` is given.

        `output` is a `.yaml` file (one pipeline) or a folder (`<pipeline-name>.yaml` each).
        """
        from .compile.package import CompiledPackage, compile_to_bytes, output_paths, write_package
        from .compile.pipeline import CompileOptions

        chosen = self.plan.select(pipeline)
        options = CompileOptions(cache=cache, parallel=parallel)
        paths = output_paths([p.name for p in chosen], output) if output is not None else {}
        # Compile every pipeline before writing any: a refusal leaves no partial output.
        packages = [
            CompiledPackage(plan.name, compile_to_bytes(plan, options), paths.get(plan.name))
            for plan in chosen
        ]
        for package in packages:
            if package.path is not None:
                write_package(package.path, package.content, force=force)
        return packages

    def components(
        self, output: str, *, pipeline: str | None = None, force: bool = False
    ) -> list[str]:
        """Write one reusable component YAML per stage: `<output>/<pipeline>/<stage>.yaml`."""
        from .compile.package import component_to_bytes, write_package

        written = []
        for plan in self.plan.select(pipeline):
            for stage in plan.stages:
                path = os.path.join(output, plan.name, f"{stage.task}.yaml")
                write_package(path, component_to_bytes(plan, stage.name), force=force)
                written.append(path)
        return written

    def prepared(self, *, pipeline: str | None, cache: bool, parallel: bool) -> Prepared:
        """One pipeline compiled and ready to run, upload or schedule (CompileError = exit 4)."""
        plan = self.pipeline(pipeline)
        (package,) = self.compile(pipeline=plan.name, cache=cache, parallel=parallel)
        return Prepared(plan, package.content, parse_spec(package.content, plan.file),
                        self.settings, plan.file, True, module_folder(self.paths),
                        tuple(os.path.abspath(p) for p in self.paths))

    def run_local(self, **options: Any) -> Any:
        """Run a pipeline of this project on this machine (see `unip_kfp.local.run_local`)."""
        from .local import run_local

        return run_local(self, **options)

    def submit(self, client: Any = None, **options: Any) -> Any:
        """Run a pipeline on Kubeflow through `kfp.Client` (see `unip_kfp.kubeflow.submit`)."""
        from .kubeflow import submit

        return submit(self, client=client, **options)

    def schedule(self, name: str | None = None, *, client: Any = None, **options: Any) -> Any:
        """Schedule a pipeline on Kubeflow with apply semantics: create, leave unchanged, or
        replace without stopping runs in flight (see `unip_kfp.kubeflow.schedule`)."""
        from .kubeflow import schedule

        return schedule(self, name=name, client=client, **options)

    def runs(self, client: Any = None, **options: Any) -> Any:
        """This pipeline's newest runs on Kubeflow (see `unip_kfp.kubeflow.runs`)."""
        from .kubeflow import runs

        return runs(self, client=client, **options)


def load(
    paths: str | Sequence[str],
    *,
    boxes: Mapping[str, str] | None = None,
    user: str | None = None,
    strict: bool = False,
    config: str | None = None,
) -> Project:
    """Read, validate and plan the manifests at `paths` (files or folders).

    Raises `ManifestError` (with every problem found) when the manifests are invalid.
    """
    path_list = (paths,) if isinstance(paths, str) else tuple(paths)
    settings = load_settings(config or find_config(path_list))
    manifests = load_project(path_list)
    plan = build_plan(manifests, settings, boxes=boxes, user=user, strict=strict)
    return Project(path_list, manifests, plan, settings)

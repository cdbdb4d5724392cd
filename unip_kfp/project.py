"""The Python API behind the CLI: load manifests once, then plan, compile and run them.

    import unip_kfp
    project = unip_kfp.load("examples/train-test/manifests")
    package = project.compile(output="out/")          # KFP pipeline package(s)
    result = project.run_local(inputs={"xy_train": "./data/xy_train.csv", ...})

kfp is imported only by the methods that need it, so loading and planning stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import Settings, find_config, load_settings
from .errors import Issue
from .loader import ManifestSet, load_project
from .plan import PipelinePlan, ProjectPlan, build_plan


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

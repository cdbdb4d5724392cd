"""A loaded project: `load` reads, validates and plans manifests once; `Project` does the rest.

    project = unip_kfp.load("examples/train-test/manifests")
    package = project.compile(output="out/")          # KFP pipeline package(s)
    result = project.run(inputs={"xy_train": "./data/xy_train.csv", ...})  # here or Kubeflow

Every method's options are those of the function doing the work
(`local.runner.run_local`, `kubeflow.submission.submit`, `kubeflow.versions.upload`, ...),
named here once so that an editor and mypy see them. kfp is imported only by the methods
that need it, so loading and planning stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..checks import check_files
from ..compile.package import CompiledPackage
from ..errors import Issue, UsageError
from ..launch.arguments import InputArgument, OutputDestination
from ..launch.prepared import Prepared, module_folder, parse_spec
from ..manifests.loader import ManifestSet, load_project
from ..manifests.project_config import Settings, find_config, load_settings
from ..plan.build import build_plan
from ..plan.model import PipelinePlan, ProjectPlan
from .running import Echo

if TYPE_CHECKING:
    import kfp

    from ..kubeflow.handle import RunHandle
    from ..kubeflow.history import RunSummary
    from ..kubeflow.schedule_steps import Applied
    from ..kubeflow.versions import Upload
    from ..local.result import LocalRunResult

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
        from ..compile.package import compile_to_bytes, output_paths, write_package
        from ..compile.pipeline import CompileOptions

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
        from ..compile.package import component_to_bytes, write_package

        written = []
        for plan in self.plan.select(pipeline):
            for stage in plan.stages:
                path = os.path.join(output, plan.name, f"{stage.task}.yaml")
                write_package(path, component_to_bytes(plan, stage.name), force=force)
                written.append(path)
        return written

    def prepared(self, *, pipeline: str | None, cache: bool, parallel: bool) -> Prepared:
        """One pipeline compiled and ready to run, upload or schedule (CompileError = exit 4).

        The hook of `launch.Compilable` for the steps below; callers use `run`, `submit`...
        """
        plan = self.pipeline(pipeline)
        (package,) = self.compile(pipeline=plan.name, cache=cache, parallel=parallel)
        return Prepared(plan, package.content, parse_spec(package.content, plan.file),
                        self.settings, plan.file, True, module_folder(self.paths),
                        tuple(os.path.abspath(p) for p in self.paths))

    def run(
        self, *, pipeline: str | None = None, inputs: Mapping[str, InputArgument] | None = None,
        outputs: Mapping[str, OutputDestination] | None = None, local: bool = False,
        host: str | None = None, client: kfp.Client | None = None, workdir: str | None = None,
        jobs: int | None = None, real_paths: bool = False, inherit_env: bool = False,
        keep: bool = False, reuse: bool = False, namespace: str | None = None,
        token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
        experiment: str | None = None, run_name: str | None = None,
        from_version: str | None = None, upload: bool = False, cache: bool = False,
        wait: bool = True, timeout: float | None = None,
        on_submitted: Callable[[RunHandle], None] | None = None, force: bool = False,
        parallel: bool = False, s3_endpoint: str | None = None, echo: Echo | None = None,
    ) -> LocalRunResult | RunHandle:
        """Run a pipeline here or on Kubeflow, as `unip-kfp run` decides (see `unip_kfp.run`)."""
        from .running import run

        return run(self, pipeline=pipeline, inputs=inputs, outputs=outputs, local=local,
                   host=host, client=client, workdir=workdir, jobs=jobs, real_paths=real_paths,
                   inherit_env=inherit_env, keep=keep, reuse=reuse, namespace=namespace,
                   token=token, token_file=token_file, ca_cert=ca_cert, experiment=experiment,
                   run_name=run_name, from_version=from_version, upload=upload, cache=cache,
                   wait=wait, timeout=timeout, on_submitted=on_submitted, force=force,
                   parallel=parallel, s3_endpoint=s3_endpoint, echo=echo)

    def run_local(
        self, *, pipeline: str | None = None, inputs: Mapping[str, InputArgument] | None = None,
        outputs: Mapping[str, OutputDestination] | None = None, workdir: str | None = None,
        jobs: int | None = None, force: bool = False, real_paths: bool = False,
        inherit_env: bool = False, keep: bool = False, parallel: bool = False,
        echo: Echo | None = None, s3_endpoint: str | None = None, reuse: bool = False,
    ) -> LocalRunResult:
        """Run a pipeline of this project on this machine (see `local.runner.run_local`)."""
        from ..local.runner import run_local

        return run_local(self, pipeline=pipeline, inputs=inputs, outputs=outputs,
                         workdir=workdir, jobs=jobs, force=force, real_paths=real_paths,
                         inherit_env=inherit_env, keep=keep, parallel=parallel, echo=echo,
                         s3_endpoint=s3_endpoint, reuse=reuse)

    def submit(
        self, client: kfp.Client | None = None, *, pipeline: str | None = None,
        host: str | None = None, namespace: str | None = None, token: str | None = None,
        token_file: str | None = None, ca_cert: str | None = None,
        experiment: str | None = None, run_name: str | None = None,
        inputs: Mapping[str, InputArgument] | None = None, from_version: str | None = None,
        s3_endpoint: str | None = None, cache: bool = False, parallel: bool = False,
        echo: Echo | None = None, upload: bool = False,
    ) -> RunHandle:
        """Start a run on Kubeflow through `kfp.Client`; don't wait (`kubeflow.submission`)."""
        from ..kubeflow.submission import submit

        return submit(self, pipeline=pipeline, client=client, host=host, namespace=namespace,
                      token=token, token_file=token_file, ca_cert=ca_cert,
                      experiment=experiment, run_name=run_name, inputs=inputs,
                      from_version=from_version, s3_endpoint=s3_endpoint, cache=cache,
                      parallel=parallel, echo=echo, upload=upload)

    def upload(
        self, client: kfp.Client | None = None, *, pipeline: str | None = None,
        host: str | None = None, pipeline_name: str | None = None,
        namespace: str | None = None, token: str | None = None, token_file: str | None = None,
        ca_cert: str | None = None, description: str | None = None, cache: bool = False,
        parallel: bool = False, echo: Echo | None = None,
    ) -> Upload:
        """Upload a pipeline as a Kubeflow pipeline version named by its content hash: an
        unchanged package creates nothing (see `kubeflow.versions.upload`)."""
        from ..kubeflow.versions import upload

        return upload(self, host=host, pipeline_name=pipeline_name, namespace=namespace,
                      client=client, token=token, token_file=token_file, ca_cert=ca_cert,
                      pipeline=pipeline, description=description, cache=cache,
                      parallel=parallel, echo=echo)

    def schedule(
        self, name: str | None = None, *, cron: str | None = None,
        every: str | int | None = None, start: str | None = None, end: str | None = None,
        inputs: Mapping[str, InputArgument] | None = None, max_concurrency: int = 1,
        experiment: str | None = None, pipeline: str | None = None,
        s3_endpoint: str | None = None, echo: Echo | None = None,
        client: kfp.Client | None = None, host: str | None = None,
        namespace: str | None = None, token: str | None = None, token_file: str | None = None,
        ca_cert: str | None = None,
    ) -> Applied:
        """Schedule a pipeline on Kubeflow with apply semantics: create, leave unchanged, or
        replace without stopping runs in flight (see `unip_kfp.kubeflow.schedule`)."""
        from ..kubeflow.schedule_steps import apply_schedule as schedule

        return schedule(self, name=name, cron=cron, every=every, start=start, end=end,
                        inputs=inputs, max_concurrency=max_concurrency, experiment=experiment,
                        pipeline=pipeline, s3_endpoint=s3_endpoint, echo=echo, client=client,
                        host=host, namespace=namespace, token=token, token_file=token_file,
                        ca_cert=ca_cert)

    def runs(
        self, client: kfp.Client | None = None, *, pipeline: str | None = None,
        state: str | None = None, limit: int = 20, host: str | None = None,
        namespace: str | None = None, token: str | None = None, token_file: str | None = None,
        ca_cert: str | None = None,
    ) -> list[RunSummary]:
        """This pipeline's newest runs on Kubeflow (see `unip_kfp.kubeflow.runs`)."""
        from ..kubeflow.operate import runs

        return runs(self, pipeline=pipeline, state=state, limit=limit, client=client,
                    host=host, namespace=namespace, token=token, token_file=token_file,
                    ca_cert=ca_cert)


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


def check(
    paths: str | Sequence[str],
    *,
    boxes: Mapping[str, str] | None = None,
    config: str | None = None,
) -> list[Issue]:
    """Every problem of the manifests at `paths` and their `unip-kfp.yaml`, without raising.

    What `unip-kfp validate` reports: the rules `load` and compiling refuse by, so no error
    here means `load(paths, boxes=..., config=...)` and `compile()` succeed. Warnings stay
    warnings (`load(strict=True)` refuses them too); the user changes no rule.
    """
    return check_files((paths,) if isinstance(paths, str) else tuple(paths),
                       config=config, boxes=boxes)

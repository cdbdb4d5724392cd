"""`run_local`: run a compiled pipeline package on this machine, no cluster and no Docker.

The order of work: compile (or read the package), check everything that can be checked
(inputs, output folders, that every URI can be read here), create the run folder
`<workdir>/.unip-kfp/runs/<run-id>/`, walk the DAG, copy the outputs asked for with `-o`,
print the summary. Nothing is written before the checks pass.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .. import s3
from ..errors import RunFailedError, UnipKfpError, UsageError
from ..naming import ENV_PREFIX
from ..plan import PipelinePlan
from ..project import Project
from ..target import prepare
from ..wrapper import TARGET_ROOT_ENV
from .arguments import RunArguments, output_destinations, run_arguments
from .dag import Outputs, RunLayout, Walker
from .data import BoxFolder, DataResolver
from .package import Package
from .process import Supervisor, Terminated, ignoring_signals, stop_on_signals
from .result import LocalRunResult, RunInterruptedError, StageFailedError, Status
from .summary import summary_lines

if TYPE_CHECKING:
    from ..package import CompiledPackage

__all__ = ["run_local"]

Echo = Callable[[str], None]
STATE_DIR = ".unip-kfp"  # per module folder: local boxes and runs


def run_local(
    target: Project | str | os.PathLike[str] | CompiledPackage,
    *,
    pipeline: str | None = None,
    inputs: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
    workdir: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    real_paths: bool = False,
    keep: bool = False,
    parallel: bool = False,
    echo: Echo | None = None,
    s3_endpoint: str | None = None,
) -> LocalRunResult:
    """Run one pipeline here and return what happened.

    `target` is a loaded `Project` (compiled first, with `parallel` if asked), the path
    (`str` or `os.PathLike`) of a compiled package file, or a `CompiledPackage` (see
    `unip_kfp.target`). `inputs` are `-i` values by name; `outputs` map output names to
    folders to copy them to after a successful run. Stages run in `workdir` (default: the
    folder above the manifests folder, the folder of a manifest file, or the current folder
    for a package). S3 data is read from `s3_endpoint`, else from the endpoint `unip_kfp.s3`
    finds (environment, `unip-kfp.yaml`). Raises `UsageError` (nothing ran) for bad inputs,
    outputs or unreadable data, `StageFailedError` when a stage fails (the run folder is
    kept), and `RunInterruptedError` on SIGTERM (KeyboardInterrupt on Ctrl-C) after
    stopping the running stages' process groups.
    """
    say = _serialized(echo or _to_stderr)
    prepared = prepare(target, pipeline=pipeline, parallel=parallel)
    if parallel and not prepared.from_manifests:
        say("unip-kfp: note: --parallel applies when compiling; this package runs as compiled")
    plan = prepared.plan
    package = Package(prepared.spec, prepared.source)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: need at least 1")
    folder = os.path.abspath(os.path.expanduser(workdir or prepared.module_folder or os.getcwd()))
    if not os.path.isdir(folder):
        raise UsageError(f"--workdir {folder}: no such folder")
    arguments = run_arguments(package, plan, inputs or {})
    destinations = output_destinations(
        package, plan, outputs or {}, force=force, protected=(folder,)
    )
    sentinel = plan.sentinel_uri
    layout = _new_layout(package.name, folder)
    resolver = DataResolver(
        imports_dir=layout.imports_dir,
        boxes=_box_folders(plan, folder),
        boxes_root=_boxes_root(folder),
        sentinel=sentinel,
        endpoint=s3.find_endpoint(s3_endpoint, prepared.settings.config.s3),
        echo=say,
    )
    _check_data(package, arguments, resolver, sentinel)
    os.makedirs(layout.run_dir)
    for sub in (layout.logs_dir, layout.artifacts_dir, layout.tmp_dir):
        os.mkdir(sub)
    env, forced = _environment(layout, real_paths)
    supervisor = Supervisor()
    walker = Walker(
        package,
        layout,
        resolver=resolver,
        supervisor=supervisor,
        env=env,
        forced_env=forced,
        jobs=jobs or os.cpu_count() or 1,
        echo=say,
        sentinel=sentinel,
    )
    say(f"unip-kfp: run {layout.run_id} of '{package.name}' in {folder}")
    return _Run(layout, package, arguments, walker, supervisor, say).execute(
        destinations, keep=keep, force=force
    )


class _Run:
    """Executes the walk and turns its ending (success, failure, interrupt) into a result."""

    def __init__(
        self,
        layout: RunLayout,
        package: Package,
        arguments: RunArguments,
        walker: Walker,
        supervisor: Supervisor,
        echo: Echo,
    ):
        self.layout = layout
        self.package = package
        self.arguments = arguments
        self.walker = walker
        self.supervisor = supervisor
        self.echo = echo
        self.began = time.time()

    def execute(
        self, destinations: Mapping[str, str], *, keep: bool, force: bool
    ) -> LocalRunResult:
        produced = self._walk()
        copied = self._copy(produced, destinations, force=force)
        every_output = set(self.package.root.output_definitions.artifacts)
        kept = keep or not destinations or not every_output <= set(destinations)
        if not kept:
            shutil.rmtree(self.layout.run_dir, ignore_errors=True)
        result = self._result(produced, copied=copied, kept=kept)
        for line in summary_lines(result, "succeeded"):
            self.echo(line)
        return result

    def _walk(self) -> Outputs:
        """The pipeline's outputs; on any other ending, the stages are stopped and reported."""
        finished = False
        try:
            with stop_on_signals():
                try:
                    produced = self.walker.run(self.arguments.values)
                except (KeyboardInterrupt, Terminated) as exc:
                    self._stop(exc)
                    raise self._interrupted(exc) from None
                except UnipKfpError as exc:
                    raise self._failed(exc) from None
                except Exception as exc:  # the walk halted: report the stage failure, if any
                    if self.walker.failure is None:
                        raise
                    raise self._failed(self.walker.failure) from exc
            finished = True
        finally:
            if not finished:
                self.supervisor.stop()
        return produced

    def _stop(self, reason: BaseException) -> None:
        with ignoring_signals():
            running = [s.name for s in self.walker.states.values() if s.status == Status.RUNNING]
            what = f"stopping {', '.join(running)}" if running else "stopping"
            self.echo(f"unip-kfp: {_signal_name(reason)} received: {what}")
            self.walker.halt.set()
            self.supervisor.stop()
            self.walker.wait(timeout=self.supervisor.grace + 5)

    def _interrupted(self, reason: BaseException) -> BaseException:
        result = self._result(Outputs(), copied={}, kept=True)
        for line in summary_lines(result, "was interrupted"):
            self.echo(line)
        if isinstance(reason, Terminated):
            return RunInterruptedError(
                f"run {self.layout.run_id} stopped by {_signal_name(reason)}; "
                f"run folder kept: {self.layout.run_dir}",
                reason.signum,
                result,
            )
        return reason

    def _failed(self, error: UnipKfpError) -> UnipKfpError:
        result = self._result(Outputs(), copied={}, kept=True)
        for line in summary_lines(result, "failed"):
            self.echo(line)
        failure = self.walker.failure if self.walker.failure is not None else error
        if isinstance(failure, StageFailedError):
            failure.result = result
        return failure

    def _result(self, produced: Outputs, *, copied: dict[str, str], kept: bool) -> LocalRunResult:
        labels = self.arguments.labels
        return LocalRunResult(
            pipeline=self.package.name,
            run_id=self.layout.run_id,
            run_dir=self.layout.run_dir,
            stages=[state.result() for state in self.walker.states.values()],
            outputs={labels.get(k, k): a.path for k, a in produced.artifacts.items()},
            copied=copied,
            kept=kept,
            duration=time.time() - self.began,
        )

    def _copy(
        self, produced: Outputs, destinations: Mapping[str, str], *, force: bool
    ) -> dict[str, str]:
        labels = self.arguments.labels
        copied: dict[str, str] = {}
        for key, dest in destinations.items():
            artifact = produced.artifacts.get(key)
            if artifact is None:
                raise RunFailedError(
                    f"output '{labels.get(key, key)}' was not produced; run folder kept: "
                    f"{self.layout.run_dir}"
                )
            _replace_with_copy(artifact.path, dest, force=force)
            copied[labels.get(key, key)] = dest
        return copied


def _replace_with_copy(source: str, dest: str, *, force: bool) -> None:
    """Copy an output (folder or file) to the folder `dest` (checked before the run)."""
    if force and os.path.lexists(dest):
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        else:
            os.unlink(dest)
    # `dest` is now absent or an empty folder (or a link to one)
    if os.path.isdir(source):
        shutil.copytree(source, dest, dirs_exist_ok=True, ignore_dangling_symlinks=True)
    else:
        os.makedirs(dest, exist_ok=True)
        shutil.copy2(source, dest)


def _boxes_root(workdir: str) -> str:
    """Local stand-ins of boxes: `<workdir>/.unip-kfp/boxes/<s3BoxName>/`."""
    return os.path.join(workdir, STATE_DIR, "boxes")


def _box_folders(plan: PipelinePlan, workdir: str) -> list[BoxFolder]:
    root = _boxes_root(workdir)
    return [BoxFolder(b.s3_box_name, b.uri, os.path.join(root, b.s3_box_name)) for b in plan.boxes]


def _new_layout(pipeline: str, workdir: str) -> RunLayout:
    """A fresh run id and folder name; the folder is created once the checks pass."""
    runs = os.path.join(workdir, STATE_DIR, "runs")
    while True:
        run_id = f"{pipeline}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        if not os.path.lexists(os.path.join(runs, run_id)):
            return RunLayout(run_id, os.path.join(runs, run_id), workdir)


def _check_data(
    package: Package, arguments: RunArguments, resolver: DataResolver, sentinel: str
) -> None:
    """Every URI the run would read must be readable here: fail before anything runs."""
    for name in sorted(arguments.file_parameters):
        value = arguments.values.get(name)
        if isinstance(value, str) and value and value != sentinel:
            resolver.check(value, f"input '{arguments.labels.get(name, name)}'")
    for display, uri in package.constant_imports():
        if uri != sentinel:
            resolver.check(uri, display)


def _environment(layout: RunLayout, real_paths: bool) -> tuple[dict[str, str], dict[str, str]]:
    """The stage environment (host's, minus UNIP_PIPELINE_* leaking in) and forced settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIX) and name != TARGET_ROOT_ENV
    }
    env["TMPDIR"] = layout.tmp_dir
    env.setdefault("PYTHONUNBUFFERED", "1")  # stage logs stream live, not at exit
    forced = {} if real_paths else {TARGET_ROOT_ENV: layout.paths_dir}
    return env, forced


def _signal_name(reason: BaseException) -> str:
    return str(reason) if isinstance(reason, Terminated) else "SIGINT"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _serialized(echo: Echo) -> Echo:
    """Stages print from several threads: one whole line at a time."""
    lock = threading.Lock()

    def locked(line: str) -> None:
        with lock:
            echo(line)

    return locked

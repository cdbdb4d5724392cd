"""`run_local`: run a compiled pipeline package on this machine, no cluster and no Docker.

The order of work: compile (or read the package), check everything that can be checked
(inputs, that every URI can be read here, the `-o` destinations, `--real-paths` targets),
create the run folder `<workdir>/.unip-kfp/runs/<run-id>/`, choose how stages are kept
apart (`sandbox.py`), walk the DAG, put the outputs where `-o` says, print the summary.
Nothing is written before the checks pass, and no destination before the run succeeded.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import s3
from ..errors import RunFailedError, UnipKfpError, UsageError
from ..launch.arguments import InputArgument, OutputDestination
from ..launch.prepared import Prepared, Target, prepare
from ..plan.model import PipelinePlan
from .arguments import RunArguments, run_arguments
from .dag import Outputs, RunLayout, Walker
from .data import BoxFolder, DataResolver
from .destinations import Destination, Protected, destinations, publish
from .logbook import keep_logs
from .package_reader import Package
from .process import Supervisor, Terminated, ignoring_signals, stop_on_signals
from .realpaths import RealPaths
from .result import LocalRunResult, RunInterruptedError, StageFailedError, Status
from .reuse import open_reuse
from .sandbox import Isolation, choose_isolation, remove_tree
from .stage import Stages
from .summary import summary_lines

__all__ = ["run_local"]

Echo = Callable[[str], None]
STATE_DIR = ".unip-kfp"  # per module folder: local boxes and runs


def run_local(
    target: Target, *, pipeline: str | None = None,
    inputs: Mapping[str, InputArgument] | None = None,
    outputs: Mapping[str, OutputDestination] | None = None, workdir: str | None = None,
    jobs: int | None = None, force: bool = False, real_paths: bool = False,
    inherit_env: bool = False, keep: bool = False, parallel: bool = False,
    echo: Echo | None = None, s3_endpoint: str | None = None, reuse: bool = False,
) -> LocalRunResult:
    """Run one pipeline here and return what happened.

    `target`: a loaded `Project` (compiled first, `parallel` if asked), a package file's
    path, or a `CompiledPackage`. `inputs` by input name follow the `-i` rule (paths as
    str or `os.PathLike`, URIs, typed values); `outputs` map output names to local
    folders, `s3://`/`minio://` URIs or box paths, written once the run succeeded.
    Stages run in `workdir` (default: the module folder, `target.module_folder`; the
    current folder for a package), each with its own view of its inputs and its pod's
    environment (`inherit_env`: all of this process's). `reuse` skips a stage whose result
    is stored for the same image, command, inputs and code (`reuse.py`). Raises
    `UsageError` (nothing ran), `StageFailedError` (run folder kept), `RunInterruptedError`
    on SIGTERM (KeyboardInterrupt on Ctrl-C) after stopping the stages' process groups.
    """
    say = _serialized(echo or _to_stderr)
    prepared = _prepare(target, pipeline, parallel, say)
    folder = _workdir(workdir or prepared.module_folder, jobs)
    package = Package(prepared.spec, prepared.source, prepared.platform)
    checked = _check(prepared, package, folder, inputs or {}, outputs or {}, force, s3_endpoint,
                     say)
    checks = RealPaths.check(package) if real_paths else None
    isolation = _start(checked.layout, say)
    reusing = open_reuse(folder, checked.layout, package.name, prepared.plan, prepared.settings,
                         say) if reuse else None
    stages = Stages(package, checked.layout, isolation, inherit_env=inherit_env,
                    real_paths=checks, echo=say)
    walker = Walker(package, checked.layout, resolver=checked.resolver, supervisor=Supervisor(),
                    stages=stages, jobs=_jobs(jobs, real_paths, say),
                    echo=say, sentinel=prepared.plan.sentinel_uri, reuse=reusing)
    say(f"unip-kfp: run {checked.layout.run_id} of '{package.name}' in {folder}")
    notes = (isolation.summary, _environment_note(inherit_env))
    try:
        return _Run(checked, package, walker, say, notes, prepared.plan).execute(keep=keep)
    finally:
        if reusing is not None:
            reusing.store.close()


def _prepare(target: Target, pipeline: str | None, parallel: bool, say: Echo) -> Prepared:
    """The package to run: compiled (`--parallel` applies), or read as it was compiled."""
    prepared = prepare(target, pipeline=pipeline, parallel=parallel)
    if parallel and not prepared.from_manifests:
        say("unip-kfp: note: --parallel applies when compiling; this package runs as compiled")
    return prepared


def _workdir(folder: str | None, jobs: int | None) -> str:
    """Where stages run (the module folder, or the current one); `--jobs` checked too."""
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: need at least 1")
    chosen = os.path.abspath(os.path.expanduser(folder or os.getcwd()))
    if not os.path.isdir(chosen):
        raise UsageError(f"--workdir {chosen}: no such folder")
    return chosen


def _jobs(jobs: int | None, real_paths: bool, say: Echo) -> int:
    """Stages at a time: one with --real-paths, since they share this machine's paths."""
    if not real_paths:
        return jobs or os.cpu_count() or 1
    if (jobs or 1) > 1:
        say("unip-kfp: note: with --real-paths stages run one at a time (they share the paths)")
    return 1


def _start(layout: RunLayout, say: Echo) -> Isolation:
    """The run folder, and how its stages are kept apart (said when it costs copies)."""
    os.makedirs(layout.run_dir)
    for sub in (layout.logs_dir, layout.artifacts_dir, layout.tmp_dir):
        os.mkdir(sub)
    isolation = choose_isolation(os.path.join(layout.run_dir, "probe"))
    if not isolation.namespaces:
        say(isolation.note())
    return isolation


@dataclass(frozen=True)
class _Checked:
    """Everything checked before the run folder exists."""

    layout: RunLayout
    arguments: RunArguments
    resolver: DataResolver
    destinations: list[Destination]


def _check(
    prepared: Prepared, package: Package, folder: str, inputs: Mapping[str, Any],
    outputs: Mapping[str, Any], force: bool, s3_endpoint: str | None, say: Echo,
) -> _Checked:  # fmt: skip
    """Inputs, their data, and the `-o` destinations: all before anything runs."""
    plan = prepared.plan
    arguments = run_arguments(package, plan, inputs)
    layout = _new_layout(package.name, folder)
    resolver = DataResolver(
        imports_dir=layout.imports_dir,
        boxes=_box_folders(plan, folder),
        boxes_root=_boxes_root(folder),
        sentinel=plan.sentinel_uri,
        endpoint=s3.find_endpoint(s3_endpoint, prepared.settings.config.s3),
        echo=say,
    )
    local, remote = _check_data(package, arguments, resolver, plan.sentinel_uri)
    protected = Protected(folder, os.path.join(folder, STATE_DIR), prepared.sources, local,
                          remote)
    chosen = destinations(package, plan, outputs, force=force, protected=protected,
                          resolver=resolver)
    return _Checked(layout, arguments, resolver, chosen)


class _Run:
    """Executes the walk and turns its ending (success, failure, interrupt) into a result."""

    def __init__(
        self,
        checked: _Checked,
        package: Package,
        walker: Walker,
        echo: Echo,
        notes: tuple[Callable[[], str], str],
        plan: PipelinePlan,
    ):
        self.plan = plan  # for the run report
        self.checked = checked
        self.layout = checked.layout
        self.package = package
        self.arguments = checked.arguments
        self.walker = walker
        self.supervisor = walker.supervisor
        self.echo = echo
        self.notes = notes
        self.began = time.time()

    def execute(self, *, keep: bool) -> LocalRunResult:
        produced = self._walk()
        copied = self._publish(produced)
        every_output = set(self.package.root.output_definitions.artifacts)
        given = {d.key for d in self.checked.destinations}
        kept = keep or not given or not every_output <= given
        result = self._result(produced, copied=copied, kept=kept)  # the report reads the logs
        if not kept:
            remove_tree(self.layout.run_dir)
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
        isolation, environment = self.notes
        result = LocalRunResult(
            pipeline=self.package.name,
            run_id=self.layout.run_id,
            run_dir=self.layout.run_dir,
            stages=[state.result() for state in self.walker.states.values()],
            outputs={labels.get(k, k): a.path for k, a in produced.artifacts.items()},
            copied=copied,
            kept=kept,
            duration=time.time() - self.began,
            notes=[isolation(), environment],
        )
        from .report import attach_report  # the page is built only when a run ends

        keep_logs(result, os.path.join(self.layout.workdir, STATE_DIR))  # `unip-kfp logs`
        return attach_report(result, plan=self.plan, arguments=self.arguments,
                             resolver=self.checked.resolver, echo=self.echo,
                             folder=os.path.join(self.layout.workdir, STATE_DIR))

    def _publish(self, produced: Outputs) -> dict[str, str]:
        """Each `-o` receives its output, now that the run succeeded."""
        labels = self.arguments.labels
        copied: dict[str, str] = {}
        for item in self.checked.destinations:
            artifact = produced.artifacts.get(item.key)
            if artifact is None:
                raise RunFailedError(
                    f"output '{labels.get(item.key, item.key)}' was not produced; run folder "
                    f"kept: {self.layout.run_dir}"
                )
            try:
                publish(item, artifact.path, self.checked.resolver.endpoint, self.echo)
            except OSError as exc:
                raise RunFailedError(
                    f"the run succeeded, but writing {item.label} failed ({exc}); what was "
                    f"there is unchanged, and the output is kept in {self.layout.run_dir}"
                ) from None
            copied[labels.get(item.key, item.key)] = item.shown
        return copied


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
) -> tuple[dict[str, str], dict[str, str]]:
    """Every URI the run would read must be readable here: fail before anything runs.

    Returns where the data is: local paths and S3 URIs, each with the input that reads it.
    """
    local: dict[str, str] = {}
    remote: dict[str, str] = {}
    reads = [
        (value, f"input '{arguments.labels.get(name, name)}'")
        for name in sorted(arguments.file_parameters)
        for value in [arguments.values.get(name)]
        if isinstance(value, str) and value and value != sentinel
    ]
    reads += [(uri, display) for display, uri in package.constant_imports() if uri != sentinel]
    for uri, what in reads:
        path = resolver.check(uri, what)
        if path is not None:
            local[path] = what
        else:
            remote[uri] = what
    return local, remote


def _environment_note(inherit: bool) -> str:
    if inherit:
        return ("environment: inherited from this shell (--inherit-env): stages also see "
                "variables their pods will not have")
    return ("environment: as in the pod (stage env, box Secrets' AWS_*, PATH, HOME, LANG, TZ, "
            "TMPDIR); --inherit-env passes the rest of this shell's")


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

"""Walk the package's DAG: start each task when its dependencies are done, as the backend does.

Every task runs in its own thread; a DAG's thread starts tasks whose dependencies have
finished, in the package's dependency order. Sub-DAGs (condition branches) run when their
`triggerPolicy.condition` holds and are skipped otherwise; their outputs (`dsl.OneOf`)
come from the first selector whose producer ran. Importers map their URI to local data
(`data.py`); containers run their resolved command line as a host process
(`process.py`), at most `jobs` at a time. After a failure nothing new starts; running
stages finish.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import json_format

from ..errors import RunFailedError
from .cel import ConditionError
from .data import Artifact, DataResolver
from .package_reader import ROOT, Package, constant_value
from .process import Finished, Supervisor, signal_name
from .result import StageFailedError, StageState, Status
from .reuse import Reuse
from .stage import Launch, RunLayout, Stages, safe_name
from .wiring import Outputs, dag_outputs, task_inputs

__all__ = ["Outputs", "RunLayout", "Walker"]

_POLL_SECONDS = 0.2


class _Halted(Exception):
    """The run is stopping (a failure elsewhere, or an interrupt): this task did not run."""


_SKIPPED = None


class Walker:
    """Runs one package once; `states` has a record per container task, in walk order."""

    def __init__(
        self,
        package: Package,
        layout: RunLayout,
        *,
        resolver: DataResolver,
        supervisor: Supervisor,
        stages: Stages,
        jobs: int,
        echo: Callable[[str], None],
        sentinel: str,
        reuse: Reuse | None = None,
    ):
        self.reuse = reuse  # run --reuse: stored results (reuse.py)
        self.package = package
        self.layout = layout
        self.resolver = resolver
        self.supervisor = supervisor
        self.stages = stages
        self.echo = echo
        self.sentinel = sentinel
        self.slots = threading.BoundedSemaphore(max(1, jobs))
        self.halt = threading.Event()
        self.failure: StageFailedError | None = None
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._started = 0
        self.states: dict[tuple[str, ...], StageState] = {}
        used: set[str] = set()
        for ref in package.stages():
            self.states[ref.key] = StageState(ref.name, self._log_path(ref.name, used))

    def run(self, arguments: Mapping[str, Any]) -> Outputs:
        """Run the pipeline with its root parameters; raises on the first failure."""
        return self._dag(ROOT, dict(arguments), {}, ())

    def wait(self, timeout: float) -> None:
        """Join every task thread (after an interrupt, once the processes were stopped)."""
        for thread in list(self.threads):
            thread.join(timeout=timeout)

    # --- DAGs -------------------------------------------------------------------------

    def _dag(
        self,
        ref: str,
        parameters: dict[str, Any],
        artifacts: dict[str, Artifact],
        scope: tuple[str, ...],
    ) -> Outputs:
        component = self.package.component(ref)
        tasks = component.dag.tasks
        order = self.package.order(ref)
        needs = {name: Package.dependencies(tasks[name]) for name in order}
        done: dict[str, Outputs | None] = {}
        running: set[str] = set()
        events: queue.Queue[tuple[str, Outputs | None, BaseException | None]] = queue.Queue()
        error: BaseException | None = None
        while True:
            if error is None and not self.halt.is_set():
                for name in order:
                    if name in done or name in running or not needs[name] <= done.keys():
                        continue
                    running.add(name)
                    self._spawn(name, tasks[name], parameters, artifacts, done, scope, events)
            if not running:
                break
            name, outputs, failed = _next(events)
            running.discard(name)
            if failed is not None:
                error = error or failed
                self.halt.set()
            else:
                done[name] = outputs
        if error is not None:
            raise error
        if len(done) < len(tasks):
            raise _Halted()
        return dag_outputs(component, done)

    def _spawn(
        self,
        name: str,
        task: Any,
        parameters: dict[str, Any],
        artifacts: dict[str, Artifact],
        done: Mapping[str, Outputs | None],
        scope: tuple[str, ...],
        events: queue.Queue[tuple[str, Outputs | None, BaseException | None]],
    ) -> None:
        produced = dict(done)  # a snapshot: the thread must not see later changes

        def work() -> None:
            try:
                result = self._task(name, task, parameters, artifacts, produced, scope)
            except BaseException as exc:  # handed to the DAG's thread, which re-raises it
                events.put((name, None, exc))
            else:
                events.put((name, result, None))

        thread = threading.Thread(target=work, name=f"task-{'/'.join((*scope, name))}", daemon=True)
        with self._lock:
            self.threads.append(thread)
        thread.start()

    # --- one task -----------------------------------------------------------------------

    def _task(
        self,
        name: str,
        task: Any,
        parameters: Mapping[str, Any],
        artifacts: Mapping[str, Artifact],
        done: Mapping[str, Outputs | None],
        scope: tuple[str, ...],
    ) -> Outputs | None:
        ref = task.component_ref.name
        component = self.package.component(ref)
        params, arts = task_inputs(task, parameters, artifacts, done)
        for key, spec in component.input_definitions.parameters.items():
            if key not in params and spec.HasField("default_value"):
                params[key] = json_format.MessageToDict(spec.default_value)
        condition = task.trigger_policy.condition
        if condition and not self._holds(condition, params, task.task_info.name or name):
            self._skip(ref, (*scope, name))
            return _SKIPPED
        if component.WhichOneof("implementation") == "dag":
            return self._dag(ref, params, arts, (*scope, name))
        executor = self.package.executor(component)
        if executor.WhichOneof("spec") == "importer":
            return self._import(task, component, executor.importer, params)
        return self._container(name, task, component, params, arts, scope)

    def _holds(self, condition: str, params: Mapping[str, Any], where: str) -> bool:
        try:
            return self.package.conditions[condition].evaluate(params)
        except ConditionError as exc:
            raise RunFailedError(f"{where}: {exc}") from None

    def _skip(self, ref: str, key: tuple[str, ...]) -> None:
        """Mark the container tasks of a task whose condition is false."""
        if key in self.states:
            self.states[key].status = Status.SKIPPED
        elif self.package.component(ref).WhichOneof("implementation") == "dag":
            for stage in self.package.stages(ref, key):
                self.states[stage.key].status = Status.SKIPPED

    def _import(
        self, task: Any, component: Any, importer: Any, params: Mapping[str, Any]
    ) -> Outputs:
        display = task.task_info.name or "importer"
        spec = importer.artifact_uri
        if spec.WhichOneof("value") == "runtime_parameter":
            uri = params.get(spec.runtime_parameter)
        else:
            uri = constant_value(spec)
        if not isinstance(uri, str) or not uri:
            raise RunFailedError(f"{display}: empty artifact URI (as on Kubeflow, this fails)")
        if uri == self.sentinel:
            artifact = Artifact(uri, self.layout.absent_path)
        else:
            path = self.resolver.fetch(uri, display)
            artifact = Artifact(uri, path)
            self.echo(f"unip-kfp: {display}: {path}")
        keys = list(component.output_definitions.artifacts) or ["artifact"]
        return Outputs(artifacts={key: artifact for key in keys})

    def _container(
        self,
        name: str,
        task: Any,
        component: Any,
        params: Mapping[str, Any],
        arts: Mapping[str, Artifact],
        scope: tuple[str, ...],
    ) -> Outputs:
        state = self.states[scope + (name,)]
        container = self.package.executor(component).container
        probe = None if self.reuse is None else self.reuse.probe(
            state, name, container, component, params, arts, scope)
        if probe is not None and probe.outputs is not None:
            return Outputs(artifacts=probe.outputs)
        self._acquire(state)
        try:
            launch = self.stages.prepare(name, state.name, task, component, params, arts, scope)
            try:
                finished = self._execute(state, launch)
            finally:
                self.stages.ended(launch)
        finally:
            self.slots.release()
        if finished.returncode != 0:
            raise self._failed(state, finished)
        problem = self.stages.upload(launch, state.name)
        if problem is not None:
            state.status = Status.FAILED
            self.echo(f"unip-kfp: {state.name}: failed: {problem}")
            raise self._record(StageFailedError(f"stage '{state.name}' failed: {problem}",
                                                state.result()))
        if probe is not None and self.reuse is not None:
            self.reuse.keep(probe, state, launch.outputs)
        return Outputs(artifacts=launch.outputs)

    def _acquire(self, state: StageState) -> None:
        while not self.slots.acquire(timeout=_POLL_SECONDS):
            if self.halt.is_set():
                raise _Halted()
        if self.halt.is_set():
            self.slots.release()
            raise _Halted()

    def _execute(self, state: StageState, launch: Launch) -> Finished:
        with self._lock:
            self._started += 1
            number = self._started
        total = len(self.states)
        prefix = f"[{state.name}] "
        self.echo(f"unip-kfp: {state.name}: running ({number}/{total}), log {state.log_path}")
        state.status = Status.RUNNING

        def started(pid: int) -> None:
            state.pid = pid

        finished = self.supervisor.run(
            launch.argv,
            cwd=self.layout.workdir,
            env=launch.env,
            log_path=state.log_path,
            echo=lambda line: self.echo(prefix + line),
            on_start=started,
        )
        if finished is None:
            state.status = Status.NOT_RUN
            raise _Halted()
        state.started, state.finished = finished.started, finished.finished
        state.exit_code = finished.returncode
        seconds = finished.finished - finished.started
        if finished.returncode == 0:
            state.status = Status.SUCCEEDED
            self.echo(f"unip-kfp: {state.name}: succeeded in {seconds:.2f} s")
        elif finished.returncode < 0 and self.supervisor.stopping:
            state.status = Status.CANCELED
            self.echo(f"unip-kfp: {state.name}: stopped ({finished.signal_name})")
        else:
            state.status = Status.FAILED
            how = (
                f"was killed by {finished.signal_name}"
                if finished.returncode < 0
                else f"failed with exit code {finished.returncode}"
            )
            self.echo(f"unip-kfp: {state.name}: {how} after {seconds:.2f} s")
        return finished

    def _failed(self, state: StageState, finished: Finished) -> BaseException:
        if state.status == Status.CANCELED:
            return _Halted()
        code = finished.returncode
        if code < 0:
            how = f"was killed by {finished.signal_name} (exit code {code})"
        elif 128 < code < 128 + 65:
            how = f"failed with exit code {code} (a shell's code for {signal_name(code - 128)})"
        else:
            how = f"failed with exit code {code}"
        return self._record(
            StageFailedError(f"stage '{state.name}' {how}; log: {state.log_path}", state.result())
        )

    def _record(self, error: StageFailedError) -> StageFailedError:
        with self._lock:
            if self.failure is None:
                self.failure = error
        return error

    def _log_path(self, name: str, used: set[str]) -> str:
        base = safe_name(name) or "stage"
        candidate, number = base, 1
        while candidate in used:
            number += 1
            candidate = f"{base}-{number}"
        used.add(candidate)
        return os.path.join(self.layout.logs_dir, f"{candidate}.log")


def _next(
    events: queue.Queue[tuple[str, Outputs | None, BaseException | None]],
) -> tuple[str, Outputs | None, BaseException | None]:
    """The next finished task; polls so that signals reach the main thread promptly."""
    while True:
        try:
            return events.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue

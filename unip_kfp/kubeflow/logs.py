"""Stage logs of a Kubeflow run: which pod holds each stage's log, and reading it.

**Which pod.** The KFP 2.17 API names no pods: `child_tasks[].pod_name` holds Argo *node
ids* (`stages.py`). A stage's user container runs in the pod of node
`<workflow>.root.<task key>.executor`, from template `system-container-impl`; a stage whose
driver failed logs in `<workflow>.root.<task key>-driver` (`system-container-driver`). Argo
names that pod `<workflow>-<template>-<fnv32a(node name)>` (`pods.py`, POD_NAMES v2). On a
stock 2.17 install every template is retried (`workflowDefaults.spec.templateDefaults.
retryStrategy` in `workflow-controller-configmap-patch.yaml`), so each node runs as a Retry
node whose attempts are `<name>(0)`, `<name>(1)`, ... (argo-workflows v4.0.5
`workflow/controller/operator.go` `executeTemplate`): the pod of `wf.root.s.executor` is
then the one of `wf(0).root(0).s(0).executor(0)`. Both layouts are resolved by checking
candidate node names against the node ids the run reports; the last attempt is the one read.

**Reading.** Each pod's log comes from the first source that has it: the Kubernetes API,
the KFP UI's pod-log route, the archive in the artifact store (`logsources.py`). When none
has it, the reasons of all three are given (exit 5). Lines are shown as local runs show
them: `[stage] line`. `follow` streams running stages from the Kubernetes API (or polls the
other sources), stage after stage, until the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnreachableError, UsageError
from ..manifests.project_config import KubeflowConfig
from ..s3 import S3
from .connection import Connection
from .logsources import Archive, KubeflowUi, Kubernetes, PodRef, SourceError, tail_lines
from .pods import EXECUTOR_TEMPLATE, node_id, pod_name
from .stages import Stage, run_workflow, stage_states, state_of, task_details, when

DRIVER_TEMPLATE = "system-container-driver"
FINAL = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "not run"})
RUN_FINAL = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
_MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class StagePod:
    """A stage and the pod its log is in (None: no pod yet, or the stage did not run)."""

    name: str
    key: str
    state: str | None
    pod: str | None
    in_driver: bool = False


class Logs(dict[str, str]):
    """Stage name -> log text, in stage order; `sources` says where each one came from."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[str, str] = {}


class LogsUnavailable(UnreachableError):
    """No source gave a stage's log (exit 5); `logs` holds the stages that could be read."""

    def __init__(self, message: str, logs: Logs):
        super().__init__(message)
        self.logs = logs


def resolve_node(workflow: str, path: list[str], ids: set[str]) -> str | None:
    """The node name of `path` below the workflow as the run reports it, or None.

    Each step may be a retried node; its last reported attempt `<name>(n)` is taken.
    """
    name = _attempt(workflow, workflow, ids, required=False)
    for part in path:
        found = _attempt(workflow, f"{name}.{part}", ids, required=True)
        if found is None:
            return None
        name = found
    return name


def _attempt(workflow: str, name: str, ids: set[str], *, required: bool) -> str | None:
    last = None
    for number in range(_MAX_ATTEMPTS):
        attempt = f"{name}({number})"
        if node_id(workflow, attempt) not in ids:
            break
        last = attempt
    if last is not None:
        return last
    return name if not required or node_id(workflow, name) in ids else None


def stage_pods(run: Any, keys: dict[str, str], templates: dict[str, str]) -> list[StagePod]:
    """Each stage of `keys` (task key -> name, in order) with the pod holding its log."""
    workflow = run_workflow(run)
    ids = {str(getattr(c, "pod_name", "") or "") for t in task_details(run)
           for c in getattr(t, "child_tasks", None) or []}
    found = []
    for key, stage in zip(keys, stage_states(run, keys).values(), strict=True):
        found.append(StagePod(stage.name, key, stage.state,
                              _pod(workflow, stage, templates, ids), stage.in_driver))
    return found


def pod_of(run: Any, stage: Stage, templates: dict[str, str]) -> str | None:
    """The pod holding `stage`'s log in `run`, as the run's node ids name it (or None)."""
    ids = {str(getattr(c, "pod_name", "") or "") for t in task_details(run)
           for c in getattr(t, "child_tasks", None) or []}
    return _pod(run_workflow(run), stage, templates, ids)


def _pod(workflow: str | None, stage: Stage, templates: dict[str, str], ids: set[str]
         ) -> str | None:
    if workflow is None or stage.state in (None, "not run"):
        return None
    if stage.in_driver:
        path, template = ["root", f"{stage.key}-driver"], DRIVER_TEMPLATE
    else:
        path, template = ["root", stage.key, "executor"], templates.get(stage.key,
                                                                        EXECUTOR_TEMPLATE)
    node = resolve_node(workflow, path, ids)
    return pod_name(workflow, node, template) if node else None


def choose(pods: list[StagePod], stage: str | None) -> list[StagePod]:
    """All stages, or the one named (by its name or task key)."""
    if stage is None:
        return pods
    chosen = [p for p in pods if stage in (p.name, p.key)]
    if not chosen:
        raise UsageError(f"--stage {stage}: the run has no such stage (stages: "
                         f"{', '.join(p.name for p in pods) or 'none'})")
    return chosen


def prefixed(stage: str, text: str) -> list[str]:
    """Log lines as local runs print them: `[stage] line`."""
    return [f"[{stage}] {line}" for line in text.splitlines()]


@dataclass
class LogSession:
    """One run's logs: its stages, how to name their pods, and the sources to read from."""

    connection: Connection
    run_id: str
    keys: dict[str, str]
    templates: dict[str, str]
    storage: Callable[[], S3]
    config: KubeflowConfig = field(default_factory=KubeflowConfig)
    _sources: list[Any] | None = None

    def get_run(self) -> Any:
        with self.connection.call(f"reading run {self.run_id}"):
            return self.connection.client.get_run(self.run_id)

    @property
    def sources(self) -> list[Any]:
        if self._sources is None:
            import os

            ui = self.config.ui_host or os.environ.get("KF_PIPELINES_UI_ENDPOINT")
            self._sources = [Kubernetes(), KubeflowUi(self.connection, ui),
                             Archive(self.storage, self.config.log_archive)]
        return self._sources

    def ref(self, run: Any, pod: str) -> PodRef:
        return PodRef(pod, self.connection.pod_namespace, run_workflow(run) or "", self.run_id,
                      when(getattr(run, "created_at", None)))

    def read(self, ref: PodRef, tail: int | None) -> tuple[str, str]:
        """(text, source) from the first source that has the log; else `SourceError`."""
        reasons, missing = [], True
        for source in self.sources:
            try:
                return source.read(ref, tail), source.name
            except SourceError as exc:
                reasons.append(f"{source.name}: {exc}")
                missing = missing and exc.missing
        raise SourceError("\n".join(reasons), missing=missing)

    def logs(self, stage: str | None = None, tail: int | None = None) -> Logs:
        """Each chosen stage's log (a stage that did not run has an empty one)."""
        run = self.get_run()
        found, problems = Logs(), []
        for item in choose(stage_pods(run, self.keys, self.templates), stage):
            if item.pod is None:
                found[item.name], found.sources[item.name] = "", "not run"
                continue
            try:
                found[item.name], found.sources[item.name] = self.read(
                    self.ref(run, item.pod), tail)
            except SourceError as exc:
                if exc.missing and item.state not in FINAL:  # its container has not started
                    found[item.name], found.sources[item.name] = "", "no log yet"
                    continue
                problems.append(f"no log of stage '{item.name}' (pod {item.pod}):\n      "
                                + str(exc).replace("\n", "\n      "))
        if problems:
            raise LogsUnavailable("\n    ".join(problems) + "\n    hint: a Kubernetes "
                                  "kubeconfig, the UI (kubeflow.uiHost) or the S3 keys of the "
                                  "artifact store give access", found)
        return found

    def follow(self, stage: str | None, tail: int | None, echo: Callable[[str], None],
               interval: float | None = None) -> Logs:
        """Print the chosen stages' lines as they are written, until the run ends.

        Stages are followed one after another, in order; the run is looked at every
        `interval` seconds (`UNIP_KFP_POLL_INTERVAL`, default 2).
        """
        import os

        pause = interval or float(os.environ.get("UNIP_KFP_POLL_INTERVAL") or 2.0)
        printers: dict[str, _Printer] = {}
        while True:
            run = self.get_run()
            ended = (state_of(run) or "PENDING") in RUN_FINAL
            for item in choose(stage_pods(run, self.keys, self.templates), stage):
                printer = printers.setdefault(item.name, _Printer(item.name, echo, tail))
                if item.pod is not None and not printer.done:
                    self._follow_stage(run, item, printer, ended or item.state in FINAL)
            if ended:
                found = Logs()
                for name, printer in printers.items():
                    printer.close()
                    found[name] = printer.text
                return found
            time.sleep(pause)

    def _follow_stage(self, run: Any, item: StagePod, printer: _Printer, ended: bool) -> None:
        assert item.pod is not None
        ref = self.ref(run, item.pod)
        kube = self.sources[0]
        if not ended and kube.kube is not None:
            try:
                for chunk in kube.stream(ref):
                    printer.feed(chunk)
                printer.done = True
                return
            except SourceError:
                pass  # not started yet, or gone: read it below
        try:
            printer.replace(self.read(ref, None)[0])
        except SourceError as exc:
            if ended:
                printer.echo(f"[{item.name}] (no log: {exc})")
        printer.done = ended


@dataclass
class _Printer:
    """One stage's lines, printed once each; a line is printed when it is complete."""

    stage: str
    echo: Callable[[str], None]
    tail: int | None
    text: str = ""
    printed: int = 0
    done: bool = False

    def feed(self, chunk: str) -> None:
        self.replace(self.text + chunk)

    def replace(self, text: str) -> None:
        """The whole log so far: print what is new (the first time, its last `tail` lines)."""
        if len(text) < len(self.text):
            return  # another source with less of it; keep what we have
        complete = text.rfind("\n") + 1
        if not self.text and self.tail is not None:
            self.printed = complete - len(tail_lines(text[:complete], self.tail))
        self.text = text
        if complete > self.printed:
            for line in prefixed(self.stage, text[self.printed:complete]):
                self.echo(line)
            self.printed = complete

    def close(self) -> None:
        rest = self.text[self.printed:]
        for line in prefixed(self.stage, rest):
            self.echo(line)
        self.printed = len(self.text)


FAILURE_TAIL = 50


def failure_tail(session: LogSession, failure: Exception, echo: Callable[[str], None]) -> None:
    """After a failed run: each failed stage's last lines, and the command for all of it.

    Reading logs must never hide the failure itself: what cannot be read is a note.
    """
    from ..errors import UnipKfpError

    try:
        run = session.get_run()
        failed = [p for p in stage_pods(run, session.keys, session.templates)
                  if p.state == "FAILED" and p.pod is not None]
    except UnipKfpError:
        return
    commands = []
    for item in failed:
        assert item.pod is not None
        try:
            text, source = session.read(session.ref(run, item.pod), FAILURE_TAIL)
        except (SourceError, UnipKfpError) as exc:
            echo(f"log of stage '{item.name}' not readable: {exc}")
        else:
            echo(f"last {FAILURE_TAIL} log lines of stage '{item.name}' (from {source}):")
            for line in prefixed(item.name, text):
                echo("  " + line)
        commands.append(f"all of its log: unip-kfp logs {session.run_id} --stage {item.name}")
    if commands:
        failure.args = ("\n    ".join([str(failure), *commands]),)

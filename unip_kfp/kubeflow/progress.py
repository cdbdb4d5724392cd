"""Wait for a run honestly: per-stage progress from the Argo nodes, every way a run ends.

`kfp.Client.wait_for_run_completion` ends only on succeeded/failed/skipped/error. Here
SUCCEEDED and SKIPPED end the wait with success; FAILED and CANCELED raise `RunFailedError`.
What the 2.17 server reports is read as `stages.py` explains: stages among the Argo nodes
by task key; a run whose history passes through CANCELING was canceled by a user, although
it ends FAILED; an omitted or skipped stage did not run. The server gives no error text, so
the failure names the failed stage and points to its log (`pods.py` derives the pod).

Polling starts fast (0.2 s) and backs off to 5 s, or uses a fixed interval (`poll_interval=`,
env `UNIP_KFP_POLL_INTERVAL`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import RunFailedError, WaitTimeoutError
from .connection import Connection, KubeflowUnavailable
from .pods import EXECUTOR_TEMPLATE, logs_command, node_name, pod_name, stage_pod
from .stages import NOT_RUN, Stage, run_workflow, stage_states, state_of, was_canceled

TERMINAL = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
SUCCESS = frozenset({"SUCCEEDED", "SKIPPED"})
FIRST_INTERVAL, MAX_INTERVAL = 0.2, 5.0
MAX_NETWORK_FAILURES = 3


@dataclass
class Progress:
    """What we have shown so far, so that only changes are printed."""

    keys: dict[str, str]
    echo: Callable[[str], None]
    run_state: str | None = None
    stages: dict[str, str] = field(default_factory=dict)
    canceled: bool = False

    def show(self, run: Any) -> None:
        state = state_of(run) or "PENDING"
        self.canceled = self.canceled or was_canceled(run)
        if state != self.run_state:
            self.run_state = state
            if state not in TERMINAL:
                self.echo(f"run {state}" + (": canceled by a user" if state == "CANCELING"
                                            else ""))
        for name, stage in stage_states(run, self.keys).items():
            label = self._label(stage)
            if label is None or self.stages.get(name) == label:
                continue
            self.stages[name] = label
            line = f"  {name}: {label}"
            took = _duration(stage.started, stage.ended)
            if stage.state in TERMINAL and took:
                line += f" ({took})"
            if stage.in_driver:
                line += ": its driver failed (before the command started)"
            self.echo(line)

    def _label(self, stage: Stage) -> str | None:
        if stage.state == "FAILED" and self.canceled and not stage.in_driver:
            return "canceled"  # Argo fails the pods it stops
        return stage.state


@dataclass(frozen=True)
class Pods:
    """How to name a run's stage pods: executor template per task key, their namespace."""

    templates: dict[str, str]
    namespace: str | None


def wait_for_run(
    connection: Connection,
    run_id: str,
    keys: dict[str, str],
    *,
    timeout: float | None = None,
    echo: Callable[[str], None],
    poll_interval: float | None = None,
    pods: Pods | None = None,
) -> Any:
    """Poll `get_run` until a terminal state; return the final run or raise (module doc)."""
    fixed = poll_interval or _env_interval()
    interval = fixed or FIRST_INTERVAL
    started = time.monotonic()
    progress = Progress(keys, echo)
    failures = 0
    url = connection.run_url(run_id)
    while True:
        try:
            with connection.call(f"reading run {run_id}"):
                run = connection.client.get_run(run_id)
            failures = 0
        except KubeflowUnavailable as exc:
            failures += 1
            if not exc.transient or failures >= MAX_NETWORK_FAILURES:
                raise KubeflowUnavailable(
                    f"{exc}\n    the run keeps going on Kubeflow: {url}"
                ) from None
            run = None
        if run is not None:
            progress.show(run)
            state = state_of(run) or "PENDING"
            if state in TERMINAL:
                _finish(run, state, progress, url, time.monotonic() - started, pods)
                return run
        elapsed = time.monotonic() - started
        if timeout is not None and elapsed >= timeout:
            raise WaitTimeoutError(
                f"stopped waiting after {_seconds(timeout)} (run {run_id} is "
                f"{progress.run_state or 'not yet seen'}); the run keeps going on Kubeflow: "
                f"{url}"
            )
        pause = interval if timeout is None else min(interval, max(timeout - elapsed, 0.0))
        time.sleep(pause)
        if not fixed:
            interval = min(interval * 1.5, MAX_INTERVAL)


def _finish(run: Any, state: str, progress: Progress, url: str, elapsed: float,
            pods: Pods | None) -> None:
    took = _seconds(elapsed)
    if state in SUCCESS:
        progress.echo(f"run {state} after {took}")
        return
    stages = stage_states(run, progress.keys)
    for name in stages:
        if name not in progress.stages:
            progress.echo(f"  {name}: {NOT_RUN}")
    run_id = str(getattr(run, "run_id", "") or "")
    if progress.canceled or was_canceled(run):
        progress.echo(f"run canceled after {took} (Kubeflow reports it {state})")
        ran = [n for n, s in stages.items() if s.state in ("RUNNING", "PENDING", "FAILED")]
        what = f"run {run_id} was canceled by a user"
        if ran:
            what += f" while stage {_names(ran)} ran"
        _raise(f"{what}\n    details: {url}", "CANCELED")
    progress.echo(f"run {state} after {took}")
    failed = [s for s in stages.values() if s.state == "FAILED"]
    lines = [f"run {run_id} {state}"]
    if failed:
        lines[0] += f": stage {_names([s.name for s in failed])} failed"
        if all(s.in_driver for s in failed):
            lines[0] += " before its command started"
        lines[0] += " (Kubeflow gives no reason; the log says why)"
        lines += _log_lines(run, failed, pods)
    else:
        steps = _failed_steps(run, set(progress.keys))
        if steps:
            lines[0] += f": Kubeflow's step(s) {_names(steps)} failed, no stage did"
    _raise("\n    ".join([*lines, f"details: {url}"]), state)


def _log_lines(run: Any, failed: list[Stage], pods: Pods | None) -> list[str]:
    """`log of 'stage': kubectl logs ...` for each failed stage whose pod can be named."""
    workflow = run_workflow(run)
    if workflow is None or pods is None:
        return ["log: the stage's Logs tab in the Kubeflow UI (link below)"]
    from .logs import pod_of  # named from the node ids the run reports (retried nodes too)

    lines = []
    for stage in failed:
        pod = pod_of(run, stage, pods.templates)
        if pod is not None:
            pass
        elif stage.in_driver:
            pod = pod_name(workflow, node_name(workflow, "root", stage.key + "-driver"),
                           "system-container-driver")
        else:
            pod = stage_pod(workflow, stage.key, pods.templates.get(stage.key,
                                                                    EXECUTOR_TEMPLATE))
        lines.append(f"log of '{stage.name}': {logs_command(pod, pods.namespace)}")
    return lines


def _failed_steps(run: Any, keys: set[str]) -> list[str]:
    """Display names of failed nodes other than stages, the run's DAGs and the workflow."""
    workflow = run_workflow(run)
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    skip = {"root", workflow, *keys}
    return sorted({str(t.display_name) for t in details
                   if state_of(t) == "FAILED" and t.display_name not in skip})


def _raise(message: str, state: str) -> None:
    failure = RunFailedError(message)
    failure.state = state  # type: ignore[attr-defined]
    raise failure


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _duration(start: datetime | None, end: datetime | None) -> str | None:
    """A task's run time; the server keeps whole seconds, so no decimals are made up."""
    if start is not None and end is not None and end >= start:
        seconds = int((end - start).total_seconds())
        return f"{seconds} s" if seconds < 60 else _seconds(seconds)
    return None


def _seconds(value: float) -> str:
    value = float(value)
    if value < 60:
        return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _env_interval() -> float | None:
    raw = os.environ.get("UNIP_KFP_POLL_INTERVAL")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None

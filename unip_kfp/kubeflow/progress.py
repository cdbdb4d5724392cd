"""Wait for a run honestly: per-stage progress from the run details, every terminal state.

`kfp.Client.wait_for_run_completion` ends only on succeeded/failed/skipped/error, so a
CANCELED run makes it spin until its timeout. Here SUCCEEDED, SKIPPED, FAILED and CANCELED all
end the wait; FAILED and CANCELED raise `RunFailedError` naming the stage when the task
details say which one. Polling starts fast (0.2 s) and backs off to 5 s, or uses a fixed
interval (`poll_interval=`, env `UNIP_KFP_POLL_INTERVAL`).
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

TERMINAL = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
SUCCESS = frozenset({"SUCCEEDED", "SKIPPED"})
FIRST_INTERVAL, MAX_INTERVAL = 0.2, 5.0
MAX_NETWORK_FAILURES = 3


@dataclass
class Progress:
    """What we have shown so far, so that only changes are printed."""

    labels: dict[str, str]
    echo: Callable[[str], None]
    run_state: str | None = None
    stages: dict[str, str] = field(default_factory=dict)

    def show(self, run: Any) -> None:
        state = _state(run)
        if state != self.run_state:
            self.run_state = state
            if state not in TERMINAL:
                self.echo(f"run {state}")
        for stage, task in stage_tasks(run, self.labels).items():
            task_state = _state(task)
            if self.stages.get(stage) == task_state:
                continue
            self.stages[stage] = task_state
            line = f"  {stage}: {task_state}"
            took = _duration(getattr(task, "start_time", None), getattr(task, "end_time", None))
            if task_state in TERMINAL and took:
                line += f" ({took})"
            error = _message(getattr(task, "error", None))
            if task_state == "FAILED" and error:
                line += f": {error}"
            self.echo(line)


def wait_for_run(
    connection: Connection,
    run_id: str,
    labels: dict[str, str],
    *,
    timeout: float | None = None,
    echo: Callable[[str], None],
    poll_interval: float | None = None,
) -> Any:
    """Poll `get_run` until a terminal state; return the final run or raise (module doc)."""
    fixed = poll_interval or _env_interval()
    interval = fixed or FIRST_INTERVAL
    started = time.monotonic()
    progress = Progress(labels, echo)
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
            state = _state(run)
            if state in TERMINAL:
                _finish(run, state, progress, run_id, url, time.monotonic() - started)
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


def stage_tasks(run: Any, labels: dict[str, str]) -> dict[str, Any]:
    """The run's task details that are stages, by stage display name (helpers dropped)."""
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    found: dict[str, Any] = {}
    for task in details:
        label = labels.get(str(getattr(task, "display_name", "") or ""))
        if label is not None:
            found[label] = task
    return found


def _finish(run: Any, state: str, progress: Progress, run_id: str, url: str,
            elapsed: float) -> None:
    took = _seconds(elapsed)
    if state in SUCCESS:
        progress.echo(f"run {state} after {took}")
        return
    tasks = stage_tasks(run, progress.labels)
    failed = [name for name, t in tasks.items() if _state(t) == "FAILED"]
    active = [name for name, t in tasks.items() if _state(t) in ("RUNNING", "CANCELING",
                                                                  "CANCELED")]
    error = _message(getattr(run, "error", None))
    if state == "CANCELED":
        what = f"run {run_id} was CANCELED"
        if active:
            what += f" while stage {_names(active)} ran"
    else:
        what = f"run {run_id} FAILED"
        if failed:
            what += f": stage {_names(failed)} failed"
            error = error or next(
                (m for m in (_message(getattr(tasks[f], "error", None)) for f in failed) if m),
                None,
            )
    if error:
        what += f" ({error})"
    progress.echo(f"run {state} after {took}")
    failure = RunFailedError(f"{what}\n    details: {url}")
    failure.state = state  # type: ignore[attr-defined]
    raise failure


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _state(obj: Any) -> str:
    return str(getattr(obj, "state", None) or "PENDING").upper()


def _message(error: Any) -> str | None:
    if error is None:
        return None
    message = getattr(error, "message", None)
    if message is None and isinstance(error, dict):
        message = error.get("message")
    return str(message).strip() or None if message else None


def _duration(start: Any, end: Any) -> str | None:
    if isinstance(start, datetime) and isinstance(end, datetime) and end >= start:
        return _seconds((end - start).total_seconds())
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

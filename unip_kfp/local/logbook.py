"""Local runs' logs: kept under `.unip-kfp/logs/<run-id>/` and read back by run id.

A successful run's folder is removed once its outputs are copied, but its logs stay: when a
run ends (any ending), each stage's log is linked (hard link, else copied) into
`<workdir>/.unip-kfp/logs/<run-id>/` with `stages.json`, the stages in run order with their
log file, status and exit code. `unip-kfp logs RUN_ID` reads them there, or, for a run still
going, from `.unip-kfp/runs/<run-id>/logs/`, and prints them as the run did:
`[stage] line`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import UsageError
from .result import LocalRunResult

STATE_DIR = ".unip-kfp"
INDEX = "stages.json"


def logs_folder(state_dir: str, run_id: str) -> str:
    return os.path.join(state_dir, "logs", run_id)


def keep_logs(result: LocalRunResult, state_dir: str) -> str | None:
    """Link the run's stage logs under `.unip-kfp/logs/<run-id>/`; a failure is no error."""
    folder = logs_folder(state_dir, result.run_id)
    entries = []
    try:
        os.makedirs(folder, exist_ok=True)
        for stage in result.stages:
            name = os.path.basename(stage.log_path) if stage.log_path else None
            if stage.log_path and os.path.isfile(stage.log_path):
                _link(stage.log_path, os.path.join(folder, name or "stage.log"))
            entries.append({"name": stage.name, "file": name, "status": stage.status,
                            "exit_code": stage.exit_code})
        with open(os.path.join(folder, INDEX), "w", encoding="utf-8") as handle:
            json.dump({"run_id": result.run_id, "pipeline": result.pipeline,
                       "stages": entries}, handle, indent=1)
    except OSError:
        return None
    return folder


def _link(source: str, target: str) -> None:
    if os.path.lexists(target):
        os.unlink(target)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@dataclass(frozen=True)
class LocalLogs:
    """Where a local run's logs are: (stage, log file) in run order, and whether it ended."""

    run_id: str
    folder: str
    stages: list[tuple[str, str | None]]
    ended: bool


def find_local_run(run_id: str, workdirs: list[str]) -> LocalLogs | None:
    """The logs of local run `run_id` in the first workdir that has it."""
    for workdir in workdirs:
        state = os.path.join(workdir, STATE_DIR)
        kept = logs_folder(state, run_id)
        index = os.path.join(kept, INDEX)
        if os.path.isfile(index):
            with open(index, encoding="utf-8") as handle:
                entries = json.load(handle).get("stages") or []
            return LocalLogs(run_id, kept, [(str(e["name"]), os.path.join(kept, e["file"])
                                             if e.get("file") else None) for e in entries], True)
        running = os.path.join(state, "runs", run_id, "logs")
        if os.path.isdir(running):
            return LocalLogs(run_id, running, _by_start(running), False)
    return None


def _by_start(folder: str) -> list[tuple[str, str | None]]:
    """A running run's logs, in the order its stages started (no index yet)."""
    paths = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".log")]
    paths.sort(key=lambda p: (os.stat(p).st_mtime_ns, p))
    return [(os.path.basename(p)[:-4], p) for p in paths]


def local_run_ids(workdirs: list[str]) -> list[str]:
    found: set[str] = set()
    for workdir in workdirs:
        for sub in ("logs", "runs"):
            folder = os.path.join(workdir, STATE_DIR, sub)
            if os.path.isdir(folder):
                found.update(os.listdir(folder))
    return sorted(found)


def choose_stages(logs: LocalLogs, stage: str | None) -> list[tuple[str, str | None]]:
    if stage is None:
        return logs.stages
    chosen = [s for s in logs.stages if s[0] == stage]
    if not chosen:
        raise UsageError(f"--stage {stage}: run {logs.run_id} has no such stage (stages: "
                         f"{', '.join(s[0] for s in logs.stages) or 'none'})")
    return chosen


def read(path: str | None, tail: int | None) -> str:
    if path is None or not os.path.isfile(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail > 0 else ""


def follow(logs: LocalLogs, workdir: str, stage: str | None, tail: int | None,
           echo: Callable[[str], None], interval: float = 0.5) -> None:
    """Print the logs as the run writes them, until it ends (its index appears)."""
    printed: dict[str, int] = {}
    state = os.path.join(workdir, STATE_DIR)
    while True:
        ended = os.path.isfile(os.path.join(logs_folder(state, logs.run_id), INDEX))
        current = find_local_run(logs.run_id, [workdir]) or logs
        for name, path in choose_stages(current, stage if ended else None):
            key = os.path.basename(path or name)  # the same file before and after the index
            text = read(path, None)
            start = printed.get(key)
            if start is None:
                start = len(text) - len(read(path, tail)) if tail is not None else 0
            complete = len(text) if ended else text.rfind("\n") + 1
            if stage is None or stage in (name, key[:-4]):
                for line in text[start:complete].splitlines():
                    echo(f"[{name}] {line}")
            printed[key] = max(start, complete)
        if ended:
            return
        time.sleep(interval)


def lines(logs: LocalLogs, stage: str | None, tail: int | None) -> Iterator[str]:
    for name, path in choose_stages(logs, stage):
        for line in read(path, tail).splitlines():
            yield f"[{name}] {line}"

"""What a local run reports: per-stage results and the run's outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RunFailedError

__all__ = [
    "LocalRunResult",
    "RunInterruptedError",
    "StageFailedError",
    "StageResult",
    "StageState",
    "Status",
]


class Status:
    """Stage statuses, as shown in the summary."""

    NOT_RUN = "not run"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"
    REUSED = "reused"


@dataclass(frozen=True)
class StageResult:
    """One stage (container task) of the run.

    `exit_code` is the process's exit status; negative means killed by that signal
    (-15: SIGTERM). `duration` is in seconds; `started`/`finished` are Unix times.
    `log_path` is None for a stage that never started.
    """

    name: str
    status: str
    exit_code: int | None
    duration: float | None
    log_path: str | None
    started: float | None = None
    finished: float | None = None
    reused_from: str | None = None
    """With `run --reuse`: the run whose stored result this stage reused (status "reused")."""


@dataclass(frozen=True)
class LocalRunResult:
    """A finished local run.

    `outputs` maps each pipeline output (by manifest var name) to its folder in the run;
    `copied` maps those fetched with `-o` to where they were copied. When every output
    was copied and `keep` was not asked for, the run folder is removed (`kept` is False)
    and only `copied` points to existing data.
    """

    pipeline: str
    run_id: str
    run_dir: str
    stages: list[StageResult]
    outputs: dict[str, str] = field(default_factory=dict)
    copied: dict[str, str] = field(default_factory=dict)
    kept: bool = True
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)
    """How the stages were run: isolation, environment (for the summary)."""
    report: str | None = None
    """The run's HTML report (`.unip-kfp/reports/<run-id>/report.html`, see report.py)."""

    @property
    def succeeded(self) -> bool:
        return all(s.status in (Status.SUCCEEDED, Status.SKIPPED, Status.REUSED)
                   for s in self.stages)

    def stage(self, name: str) -> StageResult:
        return next(s for s in self.stages if s.name == name)


@dataclass
class StageState:
    """The mutable record the executor keeps while a stage is pending, running or done."""

    name: str
    log_path: str
    status: str = Status.NOT_RUN
    exit_code: int | None = None
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    reused_from: str | None = None

    def result(self) -> StageResult:
        duration = (
            self.finished - self.started
            if self.started is not None and self.finished is not None
            else None
        )
        ran = self.status not in (Status.NOT_RUN, Status.SKIPPED)
        return StageResult(
            self.name,
            self.status,
            self.exit_code,
            duration,
            self.log_path if ran else None,
            self.started,
            self.finished,
            self.reused_from,
        )


class StageFailedError(RunFailedError):
    """A stage exited non-zero (or was killed); the run stopped. `result` has every stage."""

    def __init__(self, message: str, stage: StageResult, result: LocalRunResult | None = None):
        super().__init__(message)
        self.stage = stage
        self.result = result


class RunInterruptedError(RunFailedError):
    """The runner was told to stop (SIGTERM/SIGHUP); its stages were stopped. Exit 128+signal."""

    def __init__(self, message: str, signum: int, result: LocalRunResult | None = None):
        super().__init__(message)
        self.exit_code = 128 + signum
        self.result = result

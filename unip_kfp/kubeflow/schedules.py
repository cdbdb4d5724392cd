"""Schedules: KFP recurring runs of a pipeline's content-hash version, with apply semantics.

A schedule is identified by its pipeline and its name (the recurring run's display name;
default: the pipeline's name). What it is made of: the pipeline version, the trigger (cron
or interval, start, end), the inputs (and pipeline root), the concurrency and the
experiment. `apply_schedule` makes Kubeflow hold exactly that:

* nothing of that name yet: it is created, enabled;
* one, made of the same: nothing changes, and it says so;
* otherwise it is **replaced without stopping runs in flight** (`schedule_steps.py`):
  upload the version, create the new recurring run disabled, disable the old one, enable
  the new one, delete the old one with `propagation_policy=ORPHAN`. KFP 2.17 deletes a
  recurring run's ScheduledWorkflow with the request's policy, and the workflows it started
  are owned by it (`resource_manager.go` `DeleteJob`, `common/util/workflow.go`
  `SetOwnerReferences`): without ORPHAN, Kubernetes' garbage collector deletes them and the
  runs in flight die (kubeflow/pipelines#7421, #12573). A paused schedule stays paused.

The read side: `list_schedules`, and `find` by name for pause, resume and delete (delete
orphans too). The KFP objects are read into `Schedule` values (`recurring run` JSON:
`max_concurrency` and `interval_second` are strings, times whole seconds).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import UsageError
from .connection import Connection
from .cron import describe_every, parse_cron, parse_every, parse_time

MAX_CONCURRENCY = 10  # toModelJob: at least 1 and at most 10


@dataclass(frozen=True)
class Trigger:
    """When a schedule starts runs: a cron (KFP's six fields) or an interval in seconds."""

    cron: str | None = None
    interval: int | None = None
    start: str | None = None
    end: str | None = None
    note: str | None = field(default=None, compare=False)

    def describe(self) -> str:
        what = f"cron '{self.cron}'" if self.cron else f"every {describe_every(self.interval or 0)}"
        if self.start:
            what += f" from {self.start}"
        if self.end:
            what += f" until {self.end}"
        return what


def make_trigger(cron: str | None, every: str | int | None, start: str | None = None,
                 end: str | None = None) -> Trigger:
    """The trigger of `--cron`/`--every`, `--start`/`--end`, checked before anything is sent."""
    if (cron is None) == (every is None):
        raise UsageError("a schedule needs exactly one of --cron EXPR and --every DURATION "
                         "(cron= or every= in Python)")
    begin = parse_time(start, "--start") if start else None
    finish = parse_time(end, "--end") if end else None
    if begin and finish and finish <= begin:
        raise UsageError(f"--end {end} is not after --start {start}")
    if cron is not None:
        parsed = parse_cron(cron)
        return Trigger(cron=parsed.expression, start=begin, end=finish, note=parsed.note)
    seconds = every if isinstance(every, int) else parse_every(str(every))
    if seconds < 1:
        raise UsageError("--every: the interval must be at least one second")
    return Trigger(interval=seconds, start=begin, end=finish)


@dataclass(frozen=True)
class Schedule:
    """A recurring run as Kubeflow holds it; `same_as` compares what a schedule is made of."""

    recurring_run_id: str
    name: str
    pipeline_id: str
    version_id: str
    enabled: bool
    trigger: Trigger
    parameters: dict[str, Any]
    pipeline_root: str
    max_concurrency: int
    experiment_id: str
    created: datetime | None = None

    @property
    def status(self) -> str:
        return "enabled" if self.enabled else "paused"

    def same_as(self, other: Schedule) -> bool:
        return (self.version_id, self.trigger, _canonical(self.parameters), self.pipeline_root,
                self.max_concurrency, self.experiment_id) == (
            other.version_id, other.trigger, _canonical(other.parameters), other.pipeline_root,
            other.max_concurrency, other.experiment_id)

    def as_dict(self, pipeline: str | None = None) -> dict[str, Any]:
        return {"name": self.name, "pipeline": pipeline, "pipeline_id": self.pipeline_id,
                "recurring_run_id": self.recurring_run_id, "status": self.status,
                "version_id": self.version_id, "trigger": self.trigger.describe(),
                "cron": self.trigger.cron, "interval_seconds": self.trigger.interval,
                "start": self.trigger.start, "end": self.trigger.end,
                "max_concurrency": self.max_concurrency, "inputs": self.parameters,
                "experiment_id": self.experiment_id}


def _canonical(value: Any) -> str:
    """Inputs as comparable text: the server keeps numbers as doubles (`42` and `42.0`)."""
    def plain(item: Any) -> Any:
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {k: plain(v) for k, v in item.items()}
        if isinstance(item, list):
            return [plain(v) for v in item]
        return item

    return json.dumps(plain(value), sort_keys=True, default=str)


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_time(value, "time")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def from_api(job: Any) -> Schedule:
    """A `V2beta1RecurringRun` (kfp's model) as a `Schedule`."""
    trigger = getattr(job, "trigger", None)
    cron = getattr(trigger, "cron_schedule", None)
    periodic = getattr(trigger, "periodic_schedule", None)
    timed = cron or periodic
    reference = getattr(job, "pipeline_version_reference", None)
    config = getattr(job, "runtime_config", None)
    status = str(getattr(job, "status", "") or getattr(job, "mode", "") or "").upper()
    return Schedule(
        recurring_run_id=str(job.recurring_run_id), name=str(job.display_name or ""),
        pipeline_id=str(getattr(reference, "pipeline_id", "") or ""),
        version_id=str(getattr(reference, "pipeline_version_id", "") or ""),
        enabled=status.startswith("ENABLE"),
        trigger=Trigger(
            cron=str(cron.cron) if cron is not None and cron.cron else None,
            interval=int(periodic.interval_second) if periodic is not None
            and periodic.interval_second else None,
            start=_time(getattr(timed, "start_time", None)),
            end=_time(getattr(timed, "end_time", None))),
        parameters=dict(getattr(config, "parameters", None) or {}),
        pipeline_root=str(getattr(config, "pipeline_root", "") or ""),
        max_concurrency=int(getattr(job, "max_concurrency", None) or 1),
        experiment_id=str(getattr(job, "experiment_id", "") or ""),
        created=getattr(job, "created_at", None),
    )


def all_schedules(connection: Connection) -> Iterator[Schedule]:
    """Every recurring run of the namespace, oldest first."""
    token = ""
    while True:
        with connection.call("listing recurring runs"):
            page = connection.client.list_recurring_runs(
                page_token=token, page_size=100, sort_by="created_at",
                namespace=connection.namespace)
        for job in page.recurring_runs or []:
            yield from_api(job)
        token = page.next_page_token or ""
        if not token:
            return


def matching(connection: Connection, pipeline_id: str, name: str) -> list[Schedule]:
    """The schedules of this identity (several only after an interrupted replacement)."""
    return [s for s in all_schedules(connection) if s.pipeline_id == pipeline_id
            and s.name == name]


def find(connection: Connection, name: str, *, pipeline_id: str | None = None,
         recurring_run_id: str | None = None) -> Schedule:
    """One schedule by name (and pipeline), or by id; several is a usage error."""
    found = [s for s in all_schedules(connection)
             if (recurring_run_id is None or s.recurring_run_id == recurring_run_id)
             and (recurring_run_id is not None or s.name == name)
             and (pipeline_id is None or s.pipeline_id == pipeline_id)]
    if not found:
        what = f"id {recurring_run_id}" if recurring_run_id else f"name '{name}'"
        raise UsageError(f"no schedule with {what} on Kubeflow at {connection.host} "
                         "(`unip-kfp schedule list` shows them)")
    if len(found) > 1:
        raise UsageError(
            f"{len(found)} schedules are named '{name}' ("
            + ", ".join(f"{s.recurring_run_id} {s.status}" for s in found)
            + "): name the pipeline (PATH or --pipeline), or one with --id")
    return found[0]


def set_enabled(connection: Connection, schedule: Schedule, enabled: bool) -> None:
    verb = "enable" if enabled else "disable"
    with connection.call(f"{verb[:-1]}ing schedule '{schedule.name}' "
                         f"({schedule.recurring_run_id})"):
        if enabled:
            connection.client.enable_recurring_run(schedule.recurring_run_id)
        else:
            connection.client.disable_recurring_run(schedule.recurring_run_id)


def delete(connection: Connection, schedule: Schedule) -> None:
    """Delete the recurring run, never its runs (`propagation_policy=ORPHAN`)."""
    api = connection.client._recurring_run_api
    with connection.call(f"deleting schedule '{schedule.name}' ({schedule.recurring_run_id})"):
        api.recurring_run_service_delete_recurring_run(schedule.recurring_run_id,
                                                       propagation_policy="ORPHAN")


def create(connection: Connection, wanted: Schedule, *, enabled: bool, description: str
           ) -> Schedule:
    """A new recurring run of `wanted`'s version (disabled while replacing)."""
    trigger = wanted.trigger
    with connection.call(f"creating schedule '{wanted.name}'"):
        job = connection.client.create_recurring_run(
            experiment_id=wanted.experiment_id, job_name=wanted.name, description=description,
            start_time=trigger.start, end_time=trigger.end, interval_second=trigger.interval,
            cron_expression=trigger.cron, max_concurrency=wanted.max_concurrency,
            params=wanted.parameters, pipeline_id=wanted.pipeline_id,
            version_id=wanted.version_id, enabled=enabled,
            pipeline_root=wanted.pipeline_root or None)
    return from_api(job)


def schedule_table(found: list[tuple[str, Schedule]]) -> list[str]:
    """`unip-kfp schedule list` as a table: (pipeline name, schedule) rows."""
    header = ["NAME", "PIPELINE", "STATUS", "TRIGGER", "CONCURRENCY", "ID"]
    rows = [[s.name, pipeline, s.status, s.trigger.describe(), str(s.max_concurrency),
             s.recurring_run_id] for pipeline, s in found]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


def check_concurrency(value: int) -> int:
    if not 1 <= value <= MAX_CONCURRENCY:
        raise UsageError(f"--max-concurrency {value}: KFP allows 1 to {MAX_CONCURRENCY} runs of "
                         "a schedule at a time")
    return value

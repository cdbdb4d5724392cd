"""Runs after submission: find one by id, list a pipeline's runs, show a run's stages.

* `attach_run(connection, run_id)` gives the `RunHandle` of any run (its spec is the one it
  embeds, or its pipeline version's), for `logs`, `status`, `cancel` and `outputs` from
  another process.
* `list_runs` reads `GET /apis/v2beta1/runs` newest first (`sort_by=created_at desc`); the
  2.17 server lists runs with their task details (`storage/run_store.go` joins the tasks),
  so the failed stage needs no further request. A run belongs to a pipeline by its embedded
  spec's `pipelineInfo.name`, or by the pipeline of its version. States are read as `wait`
  reads them (`stages.py`): a run that passed through CANCELING is CANCELED.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..checks.credentials import DEFAULT_PIPELINE_ROOT
from ..errors import UsageError
from ..launch.prepared import plan_from_spec
from ..manifests.project_config import KubeflowConfig
from .connection import Connection
from .handle import RunHandle
from .progress import SUCCESS, TERMINAL
from .server_errors import api_status
from .stages import stage_keys, stage_states, state_of, was_canceled, when
from .versions import unwrap_platform, unwrap_spec

STATES = ("PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED")
_MAX_PAGES = 20


@dataclass(frozen=True)
class RunSummary:
    """One run as `unip-kfp runs` lists it."""

    run_id: str
    name: str
    pipeline: str
    state: str
    created: datetime | None
    finished: datetime | None
    failed_stage: str | None
    url: str
    recurring_run_id: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from creation to the end (to now while it runs)."""
        if self.created is None:
            return None
        end = self.finished or datetime.now(timezone.utc)
        return max((end - self.created).total_seconds(), 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "name": self.name, "pipeline": self.pipeline,
                "state": self.state, "created_at": _iso(self.created),
                "finished_at": _iso(self.finished), "duration_s": self.duration,
                "failed_stage": self.failed_stage, "url": self.url,
                "recurring_run_id": self.recurring_run_id}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class Specs:
    """Pipeline specs and names of runs, each version's read once."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self._versions: dict[str, Any] = {}
        self._pipelines: dict[str, str] = {}

    def of(self, run: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The run's pipeline spec and platform spec (embedded, or its version's)."""
        if getattr(run, "pipeline_spec", None):
            return unwrap_spec(run.pipeline_spec), unwrap_platform(run.pipeline_spec)
        reference = getattr(run, "pipeline_version_reference", None)
        version_id = str(getattr(reference, "pipeline_version_id", "") or "")
        if not version_id:
            return {}, None
        if version_id not in self._versions:
            pipeline_id = str(getattr(reference, "pipeline_id", "") or "")
            with self.connection.call(f"reading pipeline version {version_id}", UsageError):
                self._versions[version_id] = self.connection.client.get_pipeline_version(
                    pipeline_id, version_id).pipeline_spec
        spec = self._versions[version_id]
        return unwrap_spec(spec), unwrap_platform(spec)

    def pipeline_name(self, run: Any) -> str:
        """The pipeline a run belongs to: its version's pipeline, or its spec's name."""
        reference = getattr(run, "pipeline_version_reference", None)
        pipeline_id = str(getattr(reference, "pipeline_id", "") or "")
        if pipeline_id:
            if pipeline_id not in self._pipelines:
                with self.connection.call(f"reading pipeline {pipeline_id}", UsageError):
                    found = self.connection.client.get_pipeline(pipeline_id)
                self._pipelines[pipeline_id] = str(found.display_name or found.name or "")
            return self._pipelines[pipeline_id]
        info = self.of(run)[0].get("pipelineInfo") or {}
        return str(info.get("name") or "")


def run_state(run: Any) -> str:
    """The state `wait` would report: CANCELED for a canceled run, PENDING when unknown."""
    state = state_of(run) or "PENDING"
    return "CANCELED" if state in ("FAILED", "CANCELED") and was_canceled(run) else state


def summarize(run: Any, specs: Specs, connection: Connection) -> RunSummary:
    state = run_state(run)
    failed = None
    if state == "FAILED":
        stages = stage_states(run, stage_keys(specs.of(run)[0]))
        failed = ", ".join(s.name for s in stages.values() if s.state == "FAILED") or None
    run_id = str(run.run_id)
    return RunSummary(run_id, str(run.display_name or ""), specs.pipeline_name(run), state,
                      when(getattr(run, "created_at", None)),
                      when(getattr(run, "finished_at", None)), failed,
                      connection.run_url(run_id),
                      str(getattr(run, "recurring_run_id", "") or "") or None)


def list_runs(connection: Connection, *, pipeline: str | None = None,
              state: str | None = None, limit: int = 20) -> list[RunSummary]:
    """The newest `limit` runs, of `pipeline` (a name) and in `state` when given."""
    wanted = state.upper() if state else None
    if wanted is not None and wanted not in STATES:
        raise UsageError(f"--state {state}: one of {', '.join(STATES)}")
    specs, found = Specs(connection), []
    for run in _newest_runs(connection):
        if pipeline is not None and specs.pipeline_name(run) != pipeline:
            continue
        if wanted is not None and run_state(run) != wanted:
            continue
        found.append(summarize(run, specs, connection))
        if len(found) >= limit:
            break
    return found


def _newest_runs(connection: Connection) -> Iterator[Any]:
    token = ""
    for _ in range(_MAX_PAGES):
        with connection.call("listing runs"):
            page = connection.client.list_runs(page_token=token, page_size=100,
                                               sort_by="created_at desc",
                                               namespace=connection.namespace)
        yield from page.runs or []
        token = page.next_page_token or ""
        if not token:
            return


def attach_run(connection: Connection, run_id: str, *, storage: Callable[[], Any],
           kubeflow: KubeflowConfig | None = None,
           echo: Callable[[str], None] = print) -> RunHandle:
    """The handle of an existing run (any run of this Kubeflow, by its id)."""
    from kfp_server_api.exceptions import ApiException

    with connection.call(f"reading run {run_id}", UsageError):
        try:
            run = connection.client.get_run(run_id)
        except ApiException as exc:
            if api_status(exc) != 404:
                raise
            raise UsageError(f"no run {run_id} on Kubeflow at {connection.host} (run ids: "
                             "`unip-kfp runs`)") from None
    spec, platform = Specs(connection).of(run)
    config = getattr(run, "runtime_config", None)
    root = str(getattr(config, "pipeline_root", "") or "") or DEFAULT_PIPELINE_ROOT
    return RunHandle(
        run_id=run_id, url=connection.run_url(run_id), experiment_id=str(run.experiment_id),
        plan=plan_from_spec(spec, f"run {run_id}"), spec=spec, pipeline_root=root,
        connection=connection, storage=storage, echo=echo, state=run_state(run),
        platform_spec=platform, kubeflow=kubeflow,
    )


def status_lines(handle: RunHandle) -> tuple[str, list[str]]:
    """A run's state and one line per stage, as `run --wait` shows them."""
    with handle.connection.call(f"reading run {handle.run_id}"):
        run = handle.client.get_run(handle.run_id)
    state = run_state(run)
    handle.state = state
    canceled = state == "CANCELED"
    lines = [f"run {handle.run_id} {state}" + _took(run) + f": {handle.url}"]
    for stage in stage_states(run, stage_keys(handle.spec)).values():
        label = stage.state or "PENDING"
        if label == "FAILED" and canceled and not stage.in_driver:
            label = "canceled"
        took = _seconds(stage.started, stage.ended) if label in TERMINAL else ""
        line = f"  {stage.name}: {label}" + (f" ({took})" if took else "")
        if stage.in_driver:
            line += ": its driver failed (before the command started)"
        lines.append(line)
    return state, lines


def _took(run: Any) -> str:
    created = when(getattr(run, "created_at", None))
    finished = when(getattr(run, "finished_at", None))
    if created is None:
        return ""
    if finished is not None:
        return f" after {_seconds(created, finished)}"
    return f" for {_seconds(created, datetime.now(timezone.utc))}"


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None or end < start:
        return ""
    return describe_duration((end - start).total_seconds())


def describe_duration(seconds: float) -> str:
    """Whole seconds as the server keeps them: `41 s`, `1 min 3 s`, `2 h 5 min`."""
    value = int(seconds)
    if value < 60:
        return f"{value} s"
    minutes, rest = divmod(value, 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def summary_table(found: list[RunSummary]) -> list[str]:
    """`unip-kfp runs` as a table."""
    header = ["RUN ID", "NAME", "STATE", "STARTED (UTC)", "DURATION", "FAILED STAGE", "LINK"]
    rows = [[r.run_id, r.name, r.state, (_iso(r.created) or "-")[:16].replace("T", " "),
             describe_duration(r.duration) if r.duration is not None else "-",
             r.failed_stage or "-", r.url] for r in found]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "  "
            + row[-1] for row in [header, *rows]]


def runs_json(found: list[RunSummary]) -> str:
    return json.dumps([r.as_dict() for r in found], indent=2)


def success(state: str | None) -> bool:
    """Whether a state is a good ending, or no ending yet (`status` exits 0 then)."""
    return state in SUCCESS or state not in TERMINAL


__all__ = ["RunSummary", "attach_run", "list_runs", "runs_json", "status_lines", "success",
           "summary_table"]

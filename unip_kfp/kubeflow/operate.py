"""After submission, from Python: a run by id, run history, schedules, and what to prune.

Their public face is `unip_kfp` (`attach`, `runs`, `schedules`, `pause_schedule`, ...):

    handle = unip_kfp.attach("0b4c...", host="http://localhost:8080")
    print(handle.logs("stage2", tail=20)["stage2"])     # also follow=True
    for run in unip_kfp.runs(project, state="FAILED", limit=5): print(run.run_id)
    unip_kfp.pause_schedule("nightly", project)         # apply: schedule_steps.py

Every function takes the Kubeflow access options of `submit` (`client`, `host`,
`namespace`, `token`, `token_file`, `ca_cert`) as typed keywords, so that `unip_kfp`'s
functions can name them once; settings (`kubeflow.*`, `s3.*`) come from the project, or
from `config` (a `unip-kfp.yaml` path), or from the one in the current folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import UsageError
from ..manifests.project_config import Settings, find_config, load_settings
from ..plan.model import PipelinePlan
from .connection import Connection, connect
from .handle import RunHandle
from .history import RunSummary, attach_run, list_runs
from .schedule_steps import Applied, apply_schedule
from .schedules import Schedule, all_schedules, delete, find, set_enabled
from .submission import _LazyStorage
from .versions import find_pipeline

if TYPE_CHECKING:
    import kfp

__all__ = ["Applied", "apply_schedule", "attach", "delete_schedule", "pause_schedule",
           "resume_schedule", "runs", "schedules"]


class Planned(Protocol):
    """What these functions use of a loaded project (`unip_kfp.Project`): its settings and its
    pipelines. A protocol, since this step of the flow never imports the API above it."""

    @property
    def settings(self) -> Settings: ...

    def pipeline(self, name: str | None = None) -> PipelinePlan: ...


def settings_of(target: Planned | None = None, config: str | Settings | None = None
                ) -> Settings:
    """The settings of a `Project`, of a config file, or of `unip-kfp.yaml` here."""
    if isinstance(config, Settings):
        return config
    if target is not None and hasattr(target, "settings"):
        settings: Settings = target.settings
        return settings
    return load_settings(config or find_config(["."]))


def open_connection(settings: Settings, access: dict[str, Any]) -> Connection:
    """A connection from the access options as a dict (`unip-kfp prune` passes them so)."""
    return connect(config=settings.config.kubeflow, **access)


def attach(run_id: str, *, config: str | Settings | None = None, s3_endpoint: str | None = None,
           echo: Callable[[str], None] | None = None, client: kfp.Client | None = None,
           host: str | None = None, namespace: str | None = None, token: str | None = None,
           token_file: str | None = None, ca_cert: str | None = None) -> RunHandle:
    """The `RunHandle` of an existing run: `logs()`, `status()`, `cancel()`, `wait()`..."""
    settings = settings_of(None, config)
    say = echo or print
    connection = connect(config=settings.config.kubeflow, client=client, host=host,
                         namespace=namespace, token=token, token_file=token_file,
                         ca_cert=ca_cert)
    return attach_run(connection, run_id,
                      storage=_LazyStorage(s3_endpoint, settings.config.s3, say),
                      kubeflow=settings.config.kubeflow, echo=say)


def pipeline_name(target: Planned | None, pipeline: str | None) -> str | None:
    """The pipeline a command is about: `--pipeline`, or the one of `target`."""
    if pipeline is not None or target is None:
        return pipeline
    plan = target.pipeline() if hasattr(target, "pipeline") else None
    if plan is None:
        raise UsageError("give a project (manifests) or a pipeline name")
    return str(plan.name)


def runs(target: Planned | None = None, *, pipeline: str | None = None,
         state: str | None = None, limit: int = 20, config: str | Settings | None = None,
         client: kfp.Client | None = None, host: str | None = None,
         namespace: str | None = None, token: str | None = None, token_file: str | None = None,
         ca_cert: str | None = None) -> list[RunSummary]:
    """The newest runs (of `target`'s pipeline, or `pipeline`), with state and failed stage."""
    settings = settings_of(target, config)
    connection = connect(config=settings.config.kubeflow, client=client, host=host,
                         namespace=namespace, token=token, token_file=token_file,
                         ca_cert=ca_cert)
    return list_runs(connection, pipeline=pipeline_name(target, pipeline), state=state,
                     limit=limit)


def schedules(target: Planned | None = None, *, pipeline: str | None = None,
              config: str | Settings | None = None, client: kfp.Client | None = None,
              host: str | None = None, namespace: str | None = None, token: str | None = None,
              token_file: str | None = None, ca_cert: str | None = None
              ) -> list[tuple[str, Schedule]]:
    """Every schedule as (pipeline name, schedule), of one pipeline when it is given."""
    settings = settings_of(target, config)
    connection = connect(config=settings.config.kubeflow, client=client, host=host,
                         namespace=namespace, token=token, token_file=token_file,
                         ca_cert=ca_cert)
    return schedules_of(connection, pipeline_name(target, pipeline))


def schedules_of(connection: Connection, pipeline: str | None) -> list[tuple[str, Schedule]]:
    names: dict[str, str] = {}
    found = []
    for item in all_schedules(connection):
        if item.pipeline_id not in names:
            names[item.pipeline_id] = _pipeline_display(connection, item.pipeline_id)
        if pipeline is None or names[item.pipeline_id] == pipeline:
            found.append((names[item.pipeline_id], item))
    return found


def _pipeline_display(connection: Connection, pipeline_id: str) -> str:
    if not pipeline_id:
        return "-"
    with connection.call(f"reading pipeline {pipeline_id}", UsageError):
        found = connection.client.get_pipeline(pipeline_id)
    return str(found.display_name or found.name or pipeline_id)


def _access(client: kfp.Client | None, host: str | None, namespace: str | None,
            token: str | None, token_file: str | None, ca_cert: str | None) -> dict[str, Any]:
    return {"client": client, "host": host, "namespace": namespace, "token": token,
            "token_file": token_file, "ca_cert": ca_cert}


def _one(name: str, target: Planned | None, pipeline: str | None,
         recurring_run_id: str | None, config: str | Settings | None, access: dict[str, Any]
         ) -> tuple[Connection, Schedule]:
    """The schedule `name` (of a pipeline, or with that id), and the connection it is on."""
    settings = settings_of(target, config)
    connection = open_connection(settings, access)
    chosen = pipeline_name(target, pipeline)
    pipeline_id = None
    if chosen is not None and recurring_run_id is None:
        pipeline_id = find_pipeline(connection, chosen)
        if pipeline_id is None:
            raise UsageError(f"no pipeline '{chosen}' on Kubeflow at {connection.host}")
    return connection, find(connection, name, pipeline_id=pipeline_id,
                            recurring_run_id=recurring_run_id)


def pause_schedule(name: str, target: Planned | None = None, *, pipeline: str | None = None,
                   recurring_run_id: str | None = None, config: str | Settings | None = None,
                   client: kfp.Client | None = None, host: str | None = None,
                   namespace: str | None = None, token: str | None = None,
                   token_file: str | None = None, ca_cert: str | None = None) -> Schedule:
    """Disable a schedule (runs in flight go on); it keeps its configuration."""
    connection, found = _one(name, target, pipeline, recurring_run_id, config,
                             _access(client, host, namespace, token, token_file, ca_cert))
    set_enabled(connection, found, False)
    return found


def resume_schedule(name: str, target: Planned | None = None, *, pipeline: str | None = None,
                    recurring_run_id: str | None = None, config: str | Settings | None = None,
                    client: kfp.Client | None = None, host: str | None = None,
                    namespace: str | None = None, token: str | None = None,
                    token_file: str | None = None, ca_cert: str | None = None) -> Schedule:
    """Enable a paused schedule again."""
    connection, found = _one(name, target, pipeline, recurring_run_id, config,
                             _access(client, host, namespace, token, token_file, ca_cert))
    set_enabled(connection, found, True)
    return found


def delete_schedule(name: str, target: Planned | None = None, *, pipeline: str | None = None,
                    recurring_run_id: str | None = None, config: str | Settings | None = None,
                    client: kfp.Client | None = None, host: str | None = None,
                    namespace: str | None = None, token: str | None = None,
                    token_file: str | None = None, ca_cert: str | None = None) -> Schedule:
    """Delete a schedule; its runs, in flight or done, stay (`propagation_policy=ORPHAN`)."""
    connection, found = _one(name, target, pipeline, recurring_run_id, config,
                             _access(client, host, namespace, token, token_file, ca_cert))
    delete(connection, found)
    return found

"""Managing what is on Kubeflow beyond one run: pipeline versions, schedules, run history.

`upload` and `schedule` take what `run` takes (a project, a package file or a compiled
package), so a package file can be published from Python as `unip-kfp upload`/`schedule`
publish it. `schedules`, `pause_schedule`, `resume_schedule` and `delete_schedule` find a
schedule by its pipeline (a project's, or `pipeline` by name on Kubeflow) and name, or by
`recurring_run_id`; `runs` lists the newest runs, of a pipeline or all. Every option is
the one of the function doing the work in `kubeflow/`, named and typed here; kfp is
imported only when one is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..launch.arguments import InputArgument
from .loaded import Project
from .running import Echo, RunTarget

if TYPE_CHECKING:
    import kfp

    from ..kubeflow.history import RunSummary
    from ..kubeflow.schedule_steps import Applied
    from ..kubeflow.schedules import Schedule
    from ..kubeflow.versions import Upload


def upload(
    target: RunTarget, *, client: kfp.Client | None = None, pipeline: str | None = None,
    host: str | None = None, pipeline_name: str | None = None, namespace: str | None = None,
    token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
    description: str | None = None, cache: bool = False, parallel: bool = False,
    echo: Echo | None = None,
) -> Upload:
    """Upload one pipeline of `target` as a Kubeflow pipeline version named by its content
    hash: an unchanged package creates nothing (`created` is False), so it is safe to repeat.

    `pipeline_name` is its name on Kubeflow (default: the pipeline's). `cache=True` is
    refused: nothing computes cache keys for runs started from an uploaded version.
    """
    from ..kubeflow.versions import upload as upload_version

    return upload_version(target, host=host, pipeline_name=pipeline_name, namespace=namespace,
                          client=client, token=token, token_file=token_file, ca_cert=ca_cert,
                          pipeline=pipeline, description=description, cache=cache,
                          parallel=parallel, echo=echo)


def schedule(
    target: RunTarget, name: str | None = None, *, cron: str | None = None,
    every: str | int | None = None, start: str | None = None, end: str | None = None,
    inputs: Mapping[str, InputArgument] | None = None, max_concurrency: int = 1,
    experiment: str | None = None, pipeline: str | None = None,
    s3_endpoint: str | None = None, echo: Echo | None = None,
    client: kfp.Client | None = None, host: str | None = None, namespace: str | None = None,
    token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
) -> Applied:
    """Schedule one pipeline of `target` with apply semantics: create the schedule `name`
    (default: the pipeline's name), leave it unchanged, or replace it without stopping runs
    in flight. Exactly one of `cron` (5 fields as crontab, or KFP's 6) and `every` (`"6h"`).

    Trigger and inputs are checked before anything is sent (`UsageError`).
    """
    from ..kubeflow.schedule_steps import apply_schedule

    return apply_schedule(target, name=name, cron=cron, every=every, start=start, end=end,
                          inputs=inputs, max_concurrency=max_concurrency,
                          experiment=experiment, pipeline=pipeline, s3_endpoint=s3_endpoint,
                          echo=echo, client=client, host=host, namespace=namespace,
                          token=token, token_file=token_file, ca_cert=ca_cert)


def schedules(
    project: Project | None = None, *, pipeline: str | None = None, config: str | None = None,
    client: kfp.Client | None = None, host: str | None = None, namespace: str | None = None,
    token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
) -> list[tuple[str, Schedule]]:
    """Every schedule on Kubeflow as (pipeline name, schedule): all, or those of `project`'s
    pipeline or of `pipeline` (its name on Kubeflow).

    Settings come from `project`, else `config` (a `unip-kfp.yaml`), else the one here.
    """
    from ..kubeflow.operate import schedules as list_schedules

    return list_schedules(project, pipeline=pipeline, config=config, client=client, host=host,
                          namespace=namespace, token=token, token_file=token_file,
                          ca_cert=ca_cert)


def pause_schedule(
    name: str, project: Project | None = None, *, pipeline: str | None = None,
    recurring_run_id: str | None = None, config: str | None = None,
    client: kfp.Client | None = None, host: str | None = None, namespace: str | None = None,
    token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
) -> Schedule:
    """Pause the schedule `name`: no new runs, runs in flight go on; it keeps its settings.

    `recurring_run_id` picks one when several schedules have that name (`UsageError` else).
    """
    from ..kubeflow.operate import pause_schedule as pause

    return pause(name, project, pipeline=pipeline, recurring_run_id=recurring_run_id,
                 config=config, client=client, host=host, namespace=namespace, token=token,
                 token_file=token_file, ca_cert=ca_cert)


def resume_schedule(
    name: str, project: Project | None = None, *, pipeline: str | None = None,
    recurring_run_id: str | None = None, config: str | None = None,
    client: kfp.Client | None = None, host: str | None = None, namespace: str | None = None,
    token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
) -> Schedule:
    """Resume the paused schedule `name` (found as `pause_schedule` finds it)."""
    from ..kubeflow.operate import resume_schedule as resume

    return resume(name, project, pipeline=pipeline, recurring_run_id=recurring_run_id,
                  config=config, client=client, host=host, namespace=namespace, token=token,
                  token_file=token_file, ca_cert=ca_cert)


def delete_schedule(
    name: str, project: Project | None = None, *, pipeline: str | None = None,
    recurring_run_id: str | None = None, config: str | None = None,
    client: kfp.Client | None = None, host: str | None = None, namespace: str | None = None,
    token: str | None = None, token_file: str | None = None, ca_cert: str | None = None,
) -> Schedule:
    """Delete the schedule `name`; its runs, in flight or done, stay (KFP would otherwise
    delete the workflows of runs in flight: docs/kubeflow.md, "Schedules")."""
    from ..kubeflow.operate import delete_schedule as delete

    return delete(name, project, pipeline=pipeline, recurring_run_id=recurring_run_id,
                  config=config, client=client, host=host, namespace=namespace, token=token,
                  token_file=token_file, ca_cert=ca_cert)


def runs(
    project: Project | None = None, *, pipeline: str | None = None, state: str | None = None,
    limit: int = 20, config: str | None = None, client: kfp.Client | None = None,
    host: str | None = None, namespace: str | None = None, token: str | None = None,
    token_file: str | None = None, ca_cert: str | None = None,
) -> list[RunSummary]:
    """The newest runs on Kubeflow, newest first: all, or those of `project`'s pipeline or of
    `pipeline` (its name on Kubeflow); `state` keeps one state (`"FAILED"`...).

    Settings come from `project`, else `config` (a `unip-kfp.yaml`), else the one here.
    """
    from ..kubeflow.operate import runs as list_runs

    return list_runs(project, pipeline=pipeline, state=state, limit=limit, config=config,
                     client=client, host=host, namespace=namespace, token=token,
                     token_file=token_file, ca_cert=ca_cert)

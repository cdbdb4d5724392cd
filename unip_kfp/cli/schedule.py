"""`unip-kfp schedule`: recurring runs with apply semantics, and list/pause/resume/delete.

`unip-kfp schedule PATH --cron EXPR` is `unip-kfp schedule apply PATH --cron EXPR`. The work
is `unip_kfp.kubeflow.schedule_steps` and `operate`; kfp is imported only when a command runs.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..launch.arguments import command_line
from ..project import Project
from .common import handle_errors, parse_pairs, project_options
from .operate import _say, access, access_options


class _ScheduleGroup(click.Group):
    """A group whose default command is `apply`: `schedule PATH ...` applies PATH."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["apply", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ScheduleGroup)
def schedule() -> None:
    """Schedule a pipeline on Kubeflow (PATH ...), or list, pause, resume, delete schedules.

    `unip-kfp schedule PATH --cron EXPR | --every DURATION` creates the schedule, changes
    nothing when it is already so, or replaces it without stopping runs in flight.
    """


@schedule.command("apply")
@click.argument("path")
@click.option("--cron", help="Cron: 5 fields (minute first, as crontab) or KFP's 6 (seconds "
              "first); @daily, @hourly...")
@click.option("--every", help="Fixed interval: 30m, 1h30m, 1d...")
@click.option("--name", help="Schedule name (default: the pipeline's name).")
@click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=VALUE",
              help="Input, as for `run`; local files are uploaded once, by content.")
@click.option("--max-concurrency", type=int, default=1, show_default=True,
              help="Runs of this schedule at a time (1-10).")
@click.option("--start", help="First time it may run (ISO 8601; no zone: UTC).")
@click.option("--end", help="Last time it may run (ISO 8601; no zone: UTC).")
@click.option("--experiment", help="Experiment of its runs (default: the pipeline name).")
@click.option("--pipeline", help="Which pipeline, when PATH holds several.")
@click.option("--s3-endpoint", help="S3/MinIO endpoint for local input files.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@access_options
@project_options(packages=True)
@handle_errors
@command_line()
def apply(target: Project | str, cron: str | None, every: str | None, name: str | None,
          inputs: tuple[str, ...], max_concurrency: int, start: str | None, end: str | None,
          experiment: str | None, pipeline: str | None, s3_endpoint: str | None, fmt: str,
          **options: Any) -> None:
    """Create, keep or replace the schedule of PATH's pipeline (prints its id)."""
    from ..kubeflow.schedule_steps import apply_schedule

    where = access(options)
    applied = apply_schedule(target, name=name, cron=cron, every=every, start=start, end=end,
                             inputs=parse_pairs("-i", inputs), max_concurrency=max_concurrency,
                             experiment=experiment, pipeline=pipeline, s3_endpoint=s3_endpoint,
                             echo=_say, **where)
    if fmt == "json":
        click.echo(json.dumps(applied.as_dict(), indent=2))
    else:
        click.echo(applied.schedule.recurring_run_id)


@schedule.command("list")
@click.argument("path", required=False)
@click.option("--pipeline", help="Only this pipeline (its name on Kubeflow).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@access_options
@project_options(optional=True, keep_config=True)
@handle_errors
def list_command(project: Project | None, pipeline: str | None, fmt: str, config: str | None,
                 **options: Any) -> None:
    """List schedules: name, pipeline, status, trigger, concurrency, id."""
    from ..kubeflow.operate import schedules
    from ..kubeflow.schedules import schedule_table

    where = access(options)
    name = project.pipeline(pipeline).name if project is not None else pipeline
    found = schedules(pipeline=name, config=project.settings if project else config, **where)
    if fmt == "json":
        click.echo(json.dumps([s.as_dict(p) for p, s in found], indent=2))
    elif not found:
        _say("no schedules" + (f" of pipeline '{name}'" if name else ""))
    else:
        for line in schedule_table(found):
            click.echo(line)


def _one_command(verb: str, doc: str) -> click.Command:
    @click.argument("name")
    @click.argument("path", required=False)
    @click.option("--pipeline", help="The schedule's pipeline (name on Kubeflow).")
    @click.option("--id", "recurring_run_id", help="The recurring run's id, when several "
                  "schedules have this name.")
    @access_options
    @project_options(optional=True, keep_config=True)
    @handle_errors
    def command(name: str, project: Project | None, pipeline: str | None,
                recurring_run_id: str | None, config: str | None, **options: Any) -> None:
        from ..kubeflow.operate import delete_schedule, pause_schedule, resume_schedule

        where = access(options)
        work = {"pause": pause_schedule, "resume": resume_schedule,
                "delete": delete_schedule}[verb]
        found = work(name, project, pipeline=pipeline, recurring_run_id=recurring_run_id,
                     config=project.settings if project else config, **where)
        done = {"pause": "paused", "resume": "resumed", "delete": "deleted"}[verb]
        click.echo(f"schedule '{found.name}' {done}: {found.recurring_run_id}")
        if verb == "delete":
            _say("its runs stay, in flight or done (deleted with propagation_policy=ORPHAN)")

    command.__doc__ = doc
    return click.command(verb)(command)


for _verb, _doc in (
    ("pause", "Pause schedule NAME: no new runs (runs in flight go on)."),
    ("resume", "Resume paused schedule NAME."),
    ("delete", "Delete schedule NAME; its runs, in flight or done, stay."),
):
    schedule.add_command(_one_command(_verb, _doc))

COMMANDS = (schedule,)

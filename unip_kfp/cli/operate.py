"""After a run is submitted: `unip-kfp logs`, `runs`, `status`, `cancel` and `prune`.

The work is `unip_kfp.kubeflow.operate` (and `local/logbook.py` for local runs' logs); this
module parses options and renders. kfp is imported only when a command runs.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import EXIT_RUN_FAILED, UsageError
from ..project import Project
from .auth_options import kubeflow_auth_options, token_choice
from .common import handle_errors, project_options

F = TypeVar("F", bound=Callable[..., Any])
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def access_options(func: F) -> F:
    """Where Kubeflow is and who we are, as for `run --host`; plus the settings file."""
    func = kubeflow_auth_options(func)
    func = click.option("--token", help="Bearer token (unsafe: use --token-file).")(func)
    func = click.option("--namespace", help="Kubeflow namespace (profile).")(func)
    func = click.option("--host", help="Kubeflow Pipelines API (default: "
                        "KF_PIPELINES_ENDPOINT).")(func)
    return func


def access(options: dict[str, Any]) -> dict[str, Any]:
    """The access keyword arguments of the Python API, from a command's options."""
    token, token_file = token_choice(options.pop("token", None), options.pop("token_file", None))
    return {"host": options.pop("host", None), "namespace": options.pop("namespace", None),
            "token": token, "token_file": token_file, "ca_cert": options.pop("ca_cert", None)}


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.command()
@click.argument("run_id")
@click.option("--stage", help="Only this stage (its name or task key).")
@click.option("-f", "--follow", is_flag=True, help="Print lines as they come, until the run ends.")
@click.option("--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Module folder of local runs (default: here).")
@click.option("--config", type=click.Path(dir_okay=False),
              help="unip-kfp.yaml with kubeflow.uiHost/logArchive, s3 (default: here).")
@click.option("--s3-endpoint", help="S3 endpoint of the log archive.")
@access_options
@handle_errors
def logs(run_id: str, stage: str | None, follow: bool, tail: int | None, workdir: str | None,
         config: str | None, s3_endpoint: str | None, **options: Any) -> None:
    """Print a run's stage logs as `[stage] line`: a Kubeflow run, or a local run by its id.

    Kubeflow logs come from the Kubernetes API, else the Kubeflow Pipelines UI, else the
    archive in the artifact store (docs/kubeflow.md, "Stage logs").
    """
    from ..local import logbook

    folder = workdir or os.getcwd()
    parts = os.path.normpath(os.path.abspath(run_id)).split(os.sep)
    if os.sep in run_id and parts[-3:-1] in ([".unip-kfp", "runs"], [".unip-kfp", "logs"]):
        folder, run_id = os.sep.join(parts[:-3]) or os.sep, parts[-1]  # a run folder's path
    local = logbook.find_local_run(run_id, [folder])
    if local is not None:
        if follow and not local.ended:
            logbook.follow(local, folder, stage, tail, click.echo)
        else:
            for line in logbook.lines(local, stage, tail):
                click.echo(line)
        return
    if not _UUID.match(run_id):
        known = logbook.local_run_ids([folder])
        raise UsageError(f"no local run '{run_id}' under {os.path.join(folder, '.unip-kfp')} "
                         f"(local runs: {', '.join(known[-5:]) or 'none'}); a Kubeflow run id "
                         "is a UUID (`unip-kfp runs` lists them)")
    _kubeflow_logs(run_id, stage, follow, tail, config, s3_endpoint, access(options))


def _kubeflow_logs(run_id: str, stage: str | None, follow: bool, tail: int | None,
                   config: str | None, s3_endpoint: str | None, where: dict[str, Any]) -> None:
    from ..kubeflow.logs import LogsUnavailable, prefixed
    from ..kubeflow.operate import attach

    handle = attach(run_id, config=config, s3_endpoint=s3_endpoint, echo=_say, **where)
    if follow:
        handle.logs(stage, tail=tail, follow=True, echo=click.echo)
        return
    try:
        found = handle.logs(stage, tail=tail)
    except LogsUnavailable as exc:
        found = exc.logs
        _print_logs(found, prefixed)
        raise
    _print_logs(found, prefixed)


def _print_logs(found: Any, prefixed: Callable[[str, str], list[str]]) -> None:
    for name, text in found.items():
        source = found.sources.get(name, "?")
        how = f": {source}" if source in ("not run", "no log yet") else f" from {source}"
        _say(f"unip-kfp: log of stage '{name}'{how}")
        for line in prefixed(name, text):
            click.echo(line)


@click.command("runs")
@click.argument("path", required=False)
@click.option("--pipeline", help="Pipeline name on Kubeflow (or of PATH's pipelines).")
@click.option("--state", type=click.Choice(["PENDING", "RUNNING", "SUCCEEDED", "SKIPPED",
                                            "FAILED", "CANCELING", "CANCELED"],
                                           case_sensitive=False))
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@access_options
@project_options(optional=True, keep_config=True)
@handle_errors
def runs_command(project: Project | None, pipeline: str | None, state: str | None, limit: int,
                 fmt: str, config: str | None, **options: Any) -> None:
    """List runs, newest first: state, start, duration, failed stage and UI link."""
    from ..kubeflow.history import runs_json, summary_table
    from ..kubeflow.operate import runs

    where = access(options)
    name = project.pipeline(pipeline).name if project is not None else pipeline
    found = runs(pipeline=name, state=state, limit=limit,
                 config=project.settings if project is not None else config, **where)
    if fmt == "json":
        click.echo(runs_json(found))
    elif not found:
        _say("no runs" + (f" of pipeline '{name}'" if name else "")
             + (f" in state {state.upper()}" if state else ""))
    else:
        for line in summary_table(found):
            click.echo(line)


@click.command()
@click.argument("run_id")
@click.option("--config", type=click.Path(dir_okay=False), help="unip-kfp.yaml (default: here).")
@access_options
@handle_errors
def status(run_id: str, config: str | None, **options: Any) -> None:
    """Show a Kubeflow run's state and each stage's, as `run --wait` does (exit 1: failed)."""
    from ..kubeflow.history import status_lines, success
    from ..kubeflow.operate import attach

    handle = attach(run_id, config=config, echo=_say, **access(options))
    state, lines = status_lines(handle)
    for line in lines:
        click.echo(line)
    if not success(state):
        sys.exit(EXIT_RUN_FAILED)


@click.command()
@click.argument("run_id")
@click.option("--config", type=click.Path(dir_okay=False), help="unip-kfp.yaml (default: here).")
@access_options
@handle_errors
def cancel(run_id: str, config: str | None, **options: Any) -> None:
    """Cancel a Kubeflow run (its stages are stopped); canceling twice is harmless."""
    from ..kubeflow.operate import attach

    handle = attach(run_id, config=config, echo=_say, **access(options))
    state = handle.cancel()
    if state == "CANCELING":
        click.echo(f"run {run_id} CANCELING: {handle.url}")
    else:
        click.echo(f"run {run_id} had already ended: {state}")


def _something_to_prune(func: F) -> F:
    """`prune` without anything to prune is a usage error, whatever PATH holds."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        if kwargs["local_age"] is None and not kwargs["inputs"] and kwargs["keep_versions"] is None:
            raise UsageError("prune what? --local-older-than AGE, --inputs, --keep-versions N")
        return func(**kwargs)

    return handle_errors(wrapper)  # type: ignore[return-value]


@click.command()
@click.argument("path", required=False)
@click.option("--local-older-than", "local_age", metavar="AGE",
              help="Local run folders older than AGE (30m, 12h, 7d).")
@click.option("--inputs", is_flag=True, help="Uploaded input folders nothing will read again.")
@click.option("--keep-versions", type=click.IntRange(min=1), metavar="N",
              help="Pipeline versions beyond the newest N that nothing uses.")
@click.option("--pipeline", help="Pipeline name on Kubeflow (default: PATH's).")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Module folder of local runs (default: PATH's, else here).")
@click.option("--s3-endpoint", help="S3 endpoint of the boxes.")
@click.option("--yes", is_flag=True, help="Remove what is listed (else only list it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@access_options
@_something_to_prune  # before PATH is loaded: a usage error comes first
@project_options(optional=True, keep_config=True)
@handle_errors
def prune(project: Project | None, local_age: str | None, inputs: bool,
          keep_versions: int | None, pipeline: str | None, workdir: str | None,
          s3_endpoint: str | None, yes: bool, fmt: str, config: str | None,
          **options: Any) -> None:
    """List what can go (local run folders, uploaded inputs, old versions); --yes removes it."""
    from ..kubeflow.prune import plan_removals, remove_all

    where = access(options)
    removals = plan_removals(project, pipeline=pipeline, local_age=local_age, inputs=inputs,
                             keep_versions=keep_versions, workdir=workdir,
                             s3_endpoint=s3_endpoint, config=config, access=where, say=_say)
    if fmt == "json":
        click.echo(json.dumps([{"kind": r.kind, "what": r.what, "why": r.why,
                                "removed": yes} for r in removals], indent=2))
    for item in removals:
        if fmt == "text":
            click.echo(f"{'remove' if yes else 'would remove'} {item.kind} {item.what} "
                       f"({item.why})")
    if not removals:
        _say("nothing to prune")
    elif yes:
        remove_all(removals, _say)
    else:
        _say(f"{len(removals)} item(s) listed, nothing removed: add --yes to remove them")


COMMANDS = (logs, runs_command, status, cancel, prune)

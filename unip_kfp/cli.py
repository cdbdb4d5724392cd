"""The `unip-kfp` command: a thin layer over the Python API.

Parses options, calls the API, renders the result and maps errors to the exit-code
contract in `errors.py`. kfp is imported only inside the commands that need it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from . import render
from .errors import EXIT_INTERNAL, EXIT_INVALID, ManifestError, UnipKfpError
from .loader import load_project
from .project import Project, load
from .validate import check_manifests

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn our errors into a message on stderr and the contract's exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UnipKfpError as exc:
            click.echo(f"unip-kfp: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own usage errors keep their exit code (2)
        except KeyboardInterrupt:
            click.echo("unip-kfp: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug of ours: say so briefly, trace only on request
            if os.environ.get("UNIP_KFP_DEBUG"):
                raise
            click.echo(
                f"unip-kfp: internal error: {type(exc).__name__}: {exc}\n"
                "    (set UNIP_KFP_DEBUG=1 for the traceback, and please report it)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def parse_pairs(option: str, values: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` options into a dict; a malformed one is a usage error (exit 2)."""
    pairs: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got '{item}'", param_hint=option)
        if name in pairs:
            raise click.BadParameter(f"'{name}' given twice", param_hint=option)
        pairs[name.strip()] = value
    return pairs


def plan_options(func: F) -> F:
    """Options every command that plans a pipeline shares."""
    func = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        help="Project file (default: unip-kfp.yaml beside the manifests).",
    )(func)
    func = click.option("--strict", is_flag=True, help="Treat warnings as errors.")(func)
    func = click.option("--user", help="File-API user for relative input paths.")(func)
    func = click.option(
        "--box",
        "boxes",
        multiple=True,
        metavar="NAME=URI",
        help="Base URI of a connected box (repeatable).",
    )(func)
    return func


def load_for_command(
    paths: Sequence[str], boxes: Sequence[str], user: str | None, strict: bool, config: str | None
) -> Project:
    """Load and plan; print warnings to stderr so stdout stays clean for JSON."""
    project = load(
        list(paths), boxes=parse_pairs("--box", boxes), user=user, strict=strict, config=config
    )
    for issue in project.warnings:
        click.echo(issue.format(), err=True)
    return project


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unip-kfp")
def main() -> None:
    """Run UNIP ExperimentPipeline manifests on Kubeflow Pipelines v2, or on this machine."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@handle_errors
def validate(paths: tuple[str, ...], strict: bool, fmt: str) -> None:
    """Check manifests (files or folders); report every problem at once."""
    issues = check_manifests(load_project(list(paths)))
    failed = any(i.severity.value == "error" or strict for i in issues)
    if fmt == "json":
        click.echo(render.issues_json(issues, ok=not failed))
    elif issues:
        click.echo(render.issues_text(issues), err=True)
    if failed:
        if fmt == "text":
            errors = sum(1 for i in issues if i.severity.value == "error" or strict)
            click.echo(f"{errors} error(s); the manifests are invalid", err=True)
        sys.exit(EXIT_INVALID)
    if fmt == "text":
        click.echo(f"ok: {', '.join(paths)}")


@main.command()
@click.argument("path")
@click.option("--pipeline", help="Plan only this pipeline.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@plan_options
@handle_errors
def plan(
    path: str,
    pipeline: str | None,
    fmt: str,
    boxes: tuple[str, ...],
    user: str | None,
    strict: bool,
    config: str | None,
) -> None:
    """Show what the pipeline will be on Kubeflow: parameters, stages, outputs, order."""
    project = load_for_command([path], boxes, user, strict, config)
    chosen = project.plan.select(pipeline)
    if fmt == "json":
        click.echo(render.plan_json(chosen))
    else:
        click.echo("\n\n".join(render.plan_text(p) for p in chosen))


def _register_commands() -> None:
    """Commands that live in their own modules (each imports kfp only when it runs).

    Imported here, at the end, because those modules use the helpers defined above.
    """
    from . import (
        cli_authoring,
        cli_cache,
        cli_cluster,
        cli_compile,
        cli_connect,
        cli_kubeflow,
        cli_operate,
        cli_run,
        cli_schedule,
    )

    for module in (cli_compile, cli_run, cli_kubeflow, cli_operate, cli_schedule,
                   cli_authoring, cli_cluster, cli_connect, cli_cache):
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()

__all__ = [
    "ManifestError",
    "handle_errors",
    "load_for_command",
    "main",
    "parse_pairs",
    "plan_options",
]

"""What every `unip-kfp` command shares: the exit-code contract, `NAME=VALUE` options, loading.

Command modules import only this (never `main.py`), so the command tree has no cycle.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from ..errors import EXIT_INTERNAL, UnipKfpError
from ..project import Project, load

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

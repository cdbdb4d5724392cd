"""What every `unip-kfp` command shares: the exit-code contract, `NAME=VALUE` options, loading.

`project_options` is the one way a command gets its manifests: it adds `--box`, `--user`,
`--strict` and `--config` and hands the command a loaded `Project` (or, for `run`, `upload`
and `schedule`, a package file's path as it is). `load_options` adds the same options and
hands them over unloaded, for a command that reports invalid manifests itself (`validate`).
Command modules import only this (never `main.py`), so the command tree has no cycle.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..compile.package import is_package
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


@dataclass(frozen=True)
class LoadOptions:
    """`--box`, `--user`, `--strict`, `--config` as given: how a command's manifests load."""

    boxes: dict[str, str]
    user: str | None
    strict: bool
    config: str | None

    def load(self, paths: Sequence[str]) -> Project:
        """Load and plan; print warnings to stderr so stdout stays clean for JSON."""
        project = load(list(paths), boxes=self.boxes, user=self.user, strict=self.strict,
                       config=self.config)
        for issue in project.warnings:
            click.echo(issue.format(), err=True)
        return project


def _add_load_options(func: F) -> F:
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


def _load_options_of(kwargs: dict[str, Any]) -> LoadOptions:
    """Take the four options out of a command's keyword arguments."""
    return LoadOptions(parse_pairs("--box", kwargs.pop("boxes")), kwargs.pop("user"),
                       kwargs.pop("strict"), kwargs.pop("config"))


def load_options(func: F) -> F:
    """The options of `project_options`, handed over unloaded as `options: LoadOptions`."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(options=_load_options_of(kwargs), **kwargs)

    return _add_load_options(handle_errors(wrapper))  # type: ignore[return-value]


def project_options(
    *, packages: bool = False, optional: bool = False, keep_config: bool = False
) -> Callable[[F], F]:
    """`--box/--user/--strict/--config`, and the command's PATH loaded into a `Project`.

    The command declares its own `path` argument; it receives `project` instead (None when
    `optional` and no PATH is given). With `packages`, a package file stays a path and the
    command receives `target` (`Project | str`): `run`, `upload`, `schedule` take both.
    `keep_config` also hands over `config`, for settings read without a project. Loading
    errors keep the exit-code contract wherever the decorator sits.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            path: str | None = kwargs.pop("path")
            config = kwargs["config"]
            options = _load_options_of(kwargs)
            loaded: Project | str | None = None
            if path is not None:
                loaded = path if packages and is_package(path) else options.load([path])
            if keep_config:
                kwargs["config"] = config
            kwargs["target" if packages else "project"] = loaded
            return func(**kwargs)

        return _add_load_options(handle_errors(wrapper))  # type: ignore[return-value]

    return decorate

"""Options every command that talks to Kubeflow shares: a token off the command line, a CA.

A token on the command line lands in the shell history and in `ps`; `--token-file FILE`
keeps it in a file (re-read per request), `--token-file -` reads it from stdin or asks for
it without echo on a terminal, and `UNIP_KFP_TOKEN` takes it from the environment.
`--token VALUE` still works, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..kubeflow.access import TOKEN_ARGV_WARNING, read_token_file

F = TypeVar("F", bound=Callable[..., Any])


def kubeflow_auth_options(func: F) -> F:
    """`--token-file FILE|-` and `--ca-cert FILE` (the `--token` option stays the command's)."""
    func = click.option(
        "--ca-cert", type=click.Path(dir_okay=False),
        help="CA bundle (PEM) of the Kubeflow endpoint (default: KF_PIPELINES_SSL_CA_CERT, "
             "kubeflow.caCert).",
    )(func)
    func = click.option(
        "--token-file", metavar="FILE|-",
        help="Bearer token from FILE (re-read per request), or '-': stdin or a prompt.",
    )(func)
    return func


def token_choice(token: str | None, token_file: str | None) -> tuple[str | None, str | None]:
    """(token, token_file) for the API: warn about argv tokens, read '-' now."""
    if token:
        click.echo(TOKEN_ARGV_WARNING, err=True)
    if token_file == "-":
        return read_token_file("-", prompt=click.prompt), None
    return token, token_file

"""`unip-kfp login`, `logout` and `doctor`: connect to a Kubeflow with confidence.

`login` goes through oauth2-proxy and Dex (`kubeflow/login.py`) and keeps the session per
host (`kubeflow/sessions.py`); `doctor` checks everything a run needs, one row each
(`kubeflow/doctor.py`). Passwords and tokens never come from argv.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import EXIT_UNREACHABLE, UsageError
from ..project import Project
from .auth_options import kubeflow_auth_options, token_choice
from .common import handle_errors, project_options


def _host(host: str | None) -> str:
    from ..kubeflow.connection import resolve_host

    return resolve_host(host or os.environ.get("KF_PIPELINES_ENDPOINT"))


def _password() -> str:
    """From a hidden prompt on a terminal, else the first line of stdin; never argv."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True))
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError("no password on stdin (login reads it from a prompt or stdin, "
                         "never from the command line)")
    return line


@click.command()
@click.option("--host", help="Kubeflow URL (default: KF_PIPELINES_ENDPOINT).")
@click.option("--username", help="User (Dex: the email address, or the LDAP user).")
@click.option("--connector", help="Dex connector when it offers several (e.g. local, ldap).")
@click.option("--ca-cert", type=click.Path(dir_okay=False),
              help="CA bundle (PEM) of the endpoint (default: KF_PIPELINES_SSL_CA_CERT).")
@click.option("--kfp-context/--no-kfp-context", default=True, show_default=True,
              help="Also put the session into ~/.config/kfp/context.json for kfp.Client().")
@handle_errors
def login(host: str | None, username: str | None, connector: str | None,
          ca_cert: str | None, kfp_context: bool) -> None:
    """Log in to Kubeflow behind oauth2-proxy and Dex; the password comes from a prompt or
    stdin. The session is kept for this host only (unip-kfp, kfp.Client(), notebooks)."""
    from ..kubeflow import sessions
    from ..kubeflow.access import resolve_ca
    from ..kubeflow.login import login as do_login

    url = _host(host)
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("--username is required when the password comes from stdin")
        username = str(click.prompt("Username"))
    session = do_login(url, username, _password(), ca_cert=resolve_ca(ca_cert),
                       connector=connector)
    sessions.save(session, kfp_context=kfp_context)
    click.echo(f"logged in to {session.origin} as {session.user or username}; the session "
               f"{sessions.until(session.expires)}")
    where = f"{sessions.sessions_path()} (sent to {session.origin} only)"
    if kfp_context:
        where += f" and {sessions.KFP_CONTEXT} (kfp.Client(), notebooks)"
    click.echo(f"stored in {where}", err=True)


@click.command()
@click.option("--host", help="Kubeflow URL (default: KF_PIPELINES_ENDPOINT).")
@click.option("--ca-cert", type=click.Path(dir_okay=False), help="CA bundle (PEM).")
@handle_errors
def logout(host: str | None, ca_cert: str | None) -> None:
    """Forget the login session of a host: only what `unip-kfp login` stored."""
    from ..kubeflow import sessions
    from ..kubeflow.access import resolve_ca
    from ..kubeflow.login import sign_out

    url = _host(host)
    session = sessions.remove(url)
    if session is None:
        click.echo(f"not logged in to {sessions.origin(url)} (nothing to remove)")
        return
    sign_out(session, ca_cert=resolve_ca(ca_cert))
    click.echo(f"logged out of {session.origin}: removed its session (and the cookie login "
               "put into kfp's context.json, if it was still there)")


@click.command()
@click.argument("path", required=False)
@click.option("--host", help="Kubeflow Pipelines API (default: KF_PIPELINES_ENDPOINT).")
@click.option("--namespace", help="Profile namespace (default: kubeflow.namespace).")
@click.option("--token", help="Bearer token for the Kubeflow API (unsafe: use --token-file).")
@kubeflow_auth_options
@click.option("--s3-endpoint", help="S3/MinIO endpoint (default: UNIP_KFP_S3_ENDPOINT).")
@click.option("--cache", is_flag=True, help="Check as for runs with caching on.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds each network check may take.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@project_options(optional=True, keep_config=True)
@handle_errors
def doctor(project: Project | None, host: str | None, namespace: str | None,
           token: str | None, token_file: str | None, ca_cert: str | None,
           s3_endpoint: str | None, cache: bool, timeout: float, fmt: str,
           config: str | None) -> None:
    """Check everything a run needs, before a run: one row per check, with the fix.

    With PATH, also each box the manifests use, the images and the namespace objects. Exit
    0 when every check passes, 5 otherwise. Nothing is changed except a probe object that
    is written to the upload box and removed.
    """
    from ..kubeflow.doctor import FAIL, Doctor, render_json, render_text
    from ..manifests.project_config import find_config, load_settings

    settings = project.settings if project else load_settings(config or find_config(["."]))
    token, token_file = token_choice(token, token_file)
    result = Doctor(settings, host=host, namespace=namespace, token=token,
                    token_file=token_file, ca_cert=ca_cert, s3_endpoint=s3_endpoint,
                    project=project, cache=cache, timeout=timeout)
    result.run()
    click.echo(render_json(result) if fmt == "json" else render_text(result))
    if any(c.status == FAIL for c in result.checks):
        sys.exit(EXIT_UNREACHABLE)


COMMANDS = (login, logout, doctor)

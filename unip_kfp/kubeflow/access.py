"""What a request to Kubeflow carries besides the URL: the CA bundle, the token, the session.

* CA bundle (on-prem installs with a private CA): `--ca-cert` / `ca_cert=`, else
  `KF_PIPELINES_SSL_CA_CERT`, else `kubeflow.caCert` in `unip-kfp.yaml`; else the system's
  CAs (`SSL_CERT_FILE` included). It goes to `kfp.Client(ssl_ca_cert=...)` and to our probe.
* Bearer token, never from argv unless the user insists: `--token-file FILE` (re-read per
  request, like a projected service-account token; `-` reads stdin, or prompts on a
  terminal), else `UNIP_KFP_TOKEN`; `--token VALUE` still works, with a warning.
* Session: the host's own `unip-kfp login` session (`sessions.py`), sent to that host only.

`suggest_prefix` finds the "did you mean /pipeline" case: on the Kubeflow platform the API is
under `/pipeline`; on a port-forward of KFP standalone it is at the root.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from typing import Any

from ..errors import UsageError
from ..manifests.project_config import KubeflowConfig

API_PREFIX = "/apis/v2beta1"
CA_ENV = "KF_PIPELINES_SSL_CA_CERT"
TOKEN_ENV = "UNIP_KFP_TOKEN"
TOKEN_ARGV_WARNING = (
    "warning: --token puts the token in your shell history and in the process list; use "
    f"--token-file FILE, --token-file - (stdin or a prompt) or {TOKEN_ENV}"
)


def resolve_ca(ca_cert: str | None, config: KubeflowConfig | None = None) -> str | None:
    """The CA bundle file for Kubeflow's TLS, by the precedence above; a missing file is a
    usage error (exit 2)."""
    chosen = ca_cert or os.environ.get(CA_ENV) or (config.ca_cert if config else None)
    if not chosen:
        return None
    path = os.path.abspath(os.path.expanduser(chosen))
    if not os.path.isfile(path):
        raise UsageError(f"CA bundle {chosen}: no such file (--ca-cert, {CA_ENV}, kubeflow.caCert)")
    return path


def ssl_context(ca_cert: str | None) -> ssl.SSLContext:
    """Verified TLS: with `ca_cert` only, else the system's CAs (as urllib3 would)."""
    if ca_cert:
        try:
            return ssl.create_default_context(cafile=ca_cert)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"CA bundle {ca_cert}: not a PEM certificate file ({exc})") from None
    return ssl.create_default_context()


def describe_ca(ca_cert: str | None) -> str:
    if ca_cert:
        return f"CA bundle {ca_cert}"
    return f"the system's CAs ({os.environ['SSL_CERT_FILE']})" if os.environ.get(
        "SSL_CERT_FILE") else "the system's CAs"


def tls_failure(what: str, reason: object, ca_cert: str | None) -> str:
    """The message for a TLS handshake that failed (unknown CA, wrong name, expired)."""
    detail = getattr(reason, "verify_message", None) or getattr(reason, "reason", None) or reason
    return (f"TLS to {what} failed with {describe_ca(ca_cert)}: {detail}\n    hint: pass the "
            "CA that signed its certificate: --ca-cert FILE (or KF_PIPELINES_SSL_CA_CERT, "
            "kubeflow.caCert)")


def read_token_file(path: str, *, prompt: Any = None) -> str:
    """A token from a file, or from stdin / a hidden prompt for `-` (never from argv)."""
    import sys

    if path == "-":
        if sys.stdin.isatty() and prompt is not None:
            value = str(prompt("Bearer token", hide_input=True))
        else:
            value = sys.stdin.readline()
    else:
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as handle:
                value = handle.read()
        except OSError as exc:
            raise UsageError(f"--token-file {path}: {exc.strerror}") from None
    if not value.strip():
        raise UsageError(f"--token-file {path}: empty token")
    return value.strip()


def probe_json(url: str, ca_cert: str | None, timeout: float,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET `url`: (status, parsed JSON or None). Network errors propagate (URLError)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context(ca_cert))
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read() if exc.fp else b""
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, None


def suggest_prefix(host: str, ca_cert: str | None, timeout: float,
                   headers: dict[str, str] | None = None) -> str | None:
    """The host with `/pipeline` added or removed, if the KFP API answers there."""
    base = host.rstrip("/")
    other = base[: -len("/pipeline")] if base.endswith("/pipeline") else base + "/pipeline"
    try:
        status, data = probe_json(other + API_PREFIX + "/healthz", ca_cert, timeout, headers)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return other if status == 200 and isinstance(data, dict) else None

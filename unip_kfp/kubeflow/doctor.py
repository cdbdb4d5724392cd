"""`unip-kfp doctor`: everything a run needs, checked before a run, one row each.

Each row is ✓ (pass), ✗ (fail, with the reason and the fix) or – (not checked, and why:
its prerequisite failed, or, for the namespace objects, no Kubernetes API access). A fault
turns its own row red; the rows that depend on it show "–". Every check has a short timeout
and reads only, except the write probe of the upload box (an object removed at once).

Rows, in order: tls (https only), endpoint (healthz: version, multi-user), auth (the mode in
use, and whether the API accepts it), namespace (can list experiments), credentials (the
`kubeflow.credentials` setting), then S3 (`doctor_data.py`): s3 (endpoint and keys), pipeline
root, one row per box, images, namespace objects.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UnipKfpError
from ..manifests.project_config import Settings
from .access import API_PREFIX, describe_ca, probe_json, resolve_ca, ssl_context, tls_failure
from .doctor_data import data_checks
from .doctor_rows import FAIL, MARKS, PASS, SKIP, Check, from_error


@dataclass
class Doctor:
    """The inputs of the checks and what earlier rows found out for later ones."""

    settings: Settings
    host: str | None = None
    namespace: str | None = None
    token: str | None = None
    token_file: str | None = None
    ca_cert: str | None = None
    s3_endpoint: str | None = None
    project: Any = None  # a Project, with PATH
    cache: bool = False
    timeout: float = 5.0
    checks: list[Check] = field(default_factory=list)
    resolved: str | None = None
    health: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ca: str | None = None
    auth: Any = None  # connection.Auth, with the host's session
    tls_failed: bool = False
    auth_ok: bool = False

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def run(self) -> list[Check]:
        for step in (self.check_tls, self.check_endpoint, self.check_auth,
                     self.check_namespace, self.check_credentials):
            try:
                step()
            except UnipKfpError as exc:  # a usage error in one row stops only that row
                self.add(from_error(step.__name__.removeprefix("check_"), exc))
        data_checks(self)
        return self.checks

    # ---- Kubeflow: TLS, endpoint, auth, namespace

    def check_tls(self) -> None:
        from .connection import resolve_host

        self.resolved = resolve_host(self.host or _env("KF_PIPELINES_ENDPOINT")
                                     or self.settings.config.kubeflow.host)
        self.ca = resolve_ca(self.ca_cert, self.settings.config.kubeflow)
        parts = urllib.parse.urlsplit(self.resolved)
        if parts.scheme != "https":
            self.add(Check("tls", SKIP, f"{self.resolved} is plain HTTP: no certificate"))
            return
        port = parts.port or 443
        try:
            raw = socket.create_connection((parts.hostname or "", port), timeout=self.timeout)
        except OSError:
            self.add(Check("tls", SKIP, "not checked: the endpoint does not answer"))
            return
        try:
            with ssl_context(self.ca).wrap_socket(raw, server_hostname=parts.hostname) as tls:
                cert = tls.getpeercert() or {}
        except ssl.SSLError as exc:
            self.add(from_error("tls", _Failure(tls_failure(self.resolved, exc, self.ca))))
            self.tls_failed = True
            return
        finally:
            raw.close()
        names: Any = cert.get("issuer", ())
        issuer = dict(x[0] for x in names).get("commonName", "?")
        self.add(Check("tls", PASS, f"certificate of {parts.hostname} verified with "
                                    f"{describe_ca(self.ca)} (issuer {issuer}, valid until "
                                    f"{cert.get('notAfter', '?')})"))

    def check_endpoint(self) -> None:
        from .connection import _headers, _network_error, probe, resolve_auth
        from .sessions import cookie_for

        if self.resolved is None or self.tls_failed:
            self.add(Check("endpoint", SKIP, "not checked: TLS failed"))
            return
        auth = resolve_auth(self.token, self.token_file)
        cookie, session = cookie_for(self.resolved, required=False)  # expired: the auth row
        self.auth = auth = dataclasses.replace(auth, cookie=cookie, session=session)
        self.headers = _headers(auth)
        try:
            status, _ = probe_json(self.resolved + API_PREFIX + "/healthz", self.ca,
                                   self.timeout, self.headers)
        except (urllib.error.URLError, OSError) as exc:  # one wait, not a second probe
            reason = getattr(exc, "reason", exc)
            self.add(from_error("endpoint", _network_error(self.resolved, reason, self.timeout,
                                                           self.ca)))
            return
        if status in (401, 403):
            self.add(Check("endpoint", PASS, f"{self.resolved} answers, behind a login "
                                             f"({status}; see auth)"))
            return
        try:
            self.health = probe(self.resolved, auth, self.timeout, self.ca)
        except UnipKfpError as exc:
            self.add(from_error("endpoint", exc))
            return
        self.add(Check("endpoint", PASS, _describe_health(self.resolved, self.health)))

    def _get(self, path: str) -> tuple[int, Any]:
        assert self.resolved
        try:
            return probe_json(self.resolved + path, self.ca, self.timeout, self.headers)
        except (urllib.error.URLError, OSError, ValueError):
            return 0, None

    def check_auth(self) -> None:
        if self.auth is None or not any(c.name == "endpoint" and c.status == PASS
                                         for c in self.checks):
            self.add(Check("auth", SKIP, "not checked: the endpoint failed"))
            return
        mode = self.auth.describe()
        if self.auth.session is not None and self.auth.session.expired:
            from .sessions import until

            self.add(Check("auth", FAIL, f"{mode}: {until(self.auth.session.expires)}",
                           f"log in again: unip-kfp login --host {self.auth.session.origin}"))
            return
        status, data = self._get(API_PREFIX + "/pipelines?page_size=1")
        if status == 200:
            self.auth_ok = True
            if self.health is None:
                _, self.health = self._get(API_PREFIX + "/healthz")
            self.add(Check("auth", PASS, f"{mode}: accepted"))
            return
        message = _message(data) or f"HTTP {status}"
        self.add(Check("auth", FAIL, f"{mode}: refused ({status}: {message})", _auth_fix(
            self.auth, self.resolved or "")))

    def check_namespace(self) -> None:
        if not self.auth_ok:
            self.add(Check("namespace", SKIP, "not checked: auth failed"))
            return
        namespace = self.namespace or self.settings.config.kubeflow.namespace
        multi = bool((self.health or {}).get("multi_user"))
        if not multi:
            detail = "single-user install: runs go to the API server's namespace"
            self.add(Check("namespace", SKIP if not namespace else PASS,
                           detail + (f" (it ignores '{namespace}')" if namespace else "")))
            return
        if not namespace:
            self.add(Check("namespace", FAIL, "multi-user install and no namespace given",
                           "pass --namespace NS (your profile), or kubeflow.namespace"))
            return
        query = urllib.parse.urlencode({"namespace": namespace, "page_size": 1})
        status, data = self._get(f"{API_PREFIX}/experiments?{query}")
        if status == 200:
            self.add(Check("namespace", PASS, f"'{namespace}': experiments can be listed"))
            return
        self.add(Check("namespace", FAIL, f"'{namespace}': listing experiments refused "
                                          f"({status}: {_message(data) or 'no message'})",
                       "check the profile name; ask its owner to add you as a contributor "
                       "(Kubeflow dashboard: Manage Contributors)"))

    def check_credentials(self) -> None:
        from ..checks.credentials import launcher_reach

        mode = self.settings.config.kubeflow.credentials
        if mode == "env":
            self.add(Check("credentials", PASS, "env: box Secrets become AWS_* variables of "
                                                "the stage containers (works on any install)"))
            return
        # Loading the project ran the rule (a warning); without a project no box is read.
        issues = launcher_reach(self.project.warnings) if self.project is not None else []
        if issues:
            self.add(Check("credentials", FAIL, f"launcher: {issues[0].message}",
                           issues[0].hint or ""))
            return
        self.add(Check("credentials", PASS, "launcher: kfp-launcher names the box Secrets; "
                                            "boxes lie in the pipeline root's bucket"))


class _Failure(UnipKfpError):
    pass


def _env(name: str) -> str | None:
    import os

    return os.environ.get(name) or None


def _message(data: Any) -> str | None:
    if isinstance(data, dict):
        for key in ("message", "error_message", "error"):
            if data.get(key):
                return str(data[key])
    return None


def _describe_health(host: str, health: dict[str, Any]) -> str:
    tag = health.get("tag_name") or "unknown version"
    users = "multi-user" if health.get("multi_user") else "single-user"
    store = health.get("pipeline_store") or "database"
    return (f"{host}: KFP {tag} (commit {health.get('commit_sha') or '?'}), {users}, "
            f"pipeline store: {store}")


def _auth_fix(auth: Any, host: str) -> str:
    if auth.session is not None:
        return f"the session was refused: log in again: unip-kfp login --host {auth.session.origin}"
    if auth.token or auth.token_file:
        return ("the token is wrong or expired: a new one (Kubeflow: kubectl create token "
                "default-editor -n NAMESPACE --audience istio-ingressgateway.istio-system.svc."
                "cluster.local), passed with --token-file FILE")
    return (f"log in: unip-kfp login --host {host} (Dex), or pass a token: --token-file FILE "
            "(kubectl create token ...)")


def render_text(doctor: Doctor) -> str:
    """The table: one line per row, the fix indented below a failed one."""
    width = max(len(c.name) for c in doctor.checks) + 2
    lines = [f"unip-kfp doctor: {doctor.resolved or 'no host'}"]
    for check in doctor.checks:
        lines.append(f"  {MARKS[check.status]} {check.name.ljust(width)}{check.detail}")
        if check.fix and check.status == FAIL:
            lines.append(f"    {' ' * width}fix: {check.fix}")
    failed = sum(c.status == FAIL for c in doctor.checks)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)


def render_json(doctor: Doctor) -> str:
    ok = not any(c.status == FAIL for c in doctor.checks)
    return json.dumps({"ok": ok, "host": doctor.resolved, "checked_at": int(time.time()),
                       "checks": [asdict(c) for c in doctor.checks]}, indent=2)

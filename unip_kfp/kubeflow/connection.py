"""Reach the Kubeflow Pipelines API: resolve host, namespace and auth, probe, build `kfp.Client`.

Resolution follows kfp 2.17 (research notes, Q9), with the gaps users trip over filled in:

* host: the `host` argument, else `KF_PIPELINES_ENDPOINT`, else `kubeflow.host` in
  `unip-kfp.yaml`, else (inside a pod) the in-cluster service
  `http://ml-pipeline.kubeflow.svc.cluster.local:8888`. No scheme means `https://`, as in kfp.
* auth: an explicit token (`--token`), else the service-account token file named by
  `KF_PIPELINES_SA_TOKEN_PATH` (or kfp's default `/var/run/secrets/kubeflow/pipelines/token`
  when it exists), re-read on every request by kfp's `ServiceAccountTokenVolumeCredentials`.
  kfp itself ignores that file once a host is given; we do not. Session cookies and headers
  from `~/.config/kfp/context.json` are applied by kfp itself (and by our probe).
* namespace: the `namespace` argument, else `kubeflow.namespace`, else `context.json`, else
  the pod's service-account namespace. A multi-user install without one is refused up front
  (the backend would answer with a cryptic "Namespace is empty" later).

Before `kfp.Client` is built we probe `<host>/apis/v2beta1/healthz` with a short timeout:
kfp's own check retries 5 x 5 s, so a wrong address would otherwise hang for 25 s. Every
API call then goes through `api_errors`, which turns HTTP and network failures into the
exit-code contract by what the server meant, not by its status (`server_errors.py`: the
2.17 server answers 500 to user errors): network errors, 401/403 and a failing server are
`UnreachableError` (exit 5), a spec the server rejects is `CompileError` (exit 4), a wrong
input or an unknown version is `UsageError` (exit 2), with the server's own words.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import socket
import ssl
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import RunFailedError, UnipKfpError, UnreachableError, UsageError
from ..manifests.project_config import KubeflowConfig
from . import links
from .access import TOKEN_ENV, resolve_ca, ssl_context, suggest_prefix, tls_failure
from .server_errors import AUTH_HINT, KubeflowUnavailable, api_error, server_message

API_PREFIX = "/apis/v2beta1"
IN_CLUSTER_HOST = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
DEFAULT_SA_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"
POD_NAMESPACE_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
KFP_CONTEXT = "~/.config/kfp/context.json"


@dataclass(frozen=True)
class Auth:
    """How requests authenticate: a fixed bearer token, or a token file re-read per request."""

    token: str | None = None
    token_file: str | None = None
    cookie: str | None = None  # None: kfp's default (context.json); see access.py
    session: Any = None  # the host's `unip-kfp login` session (sessions.Session)

    def bearer(self) -> str | None:
        if self.token:
            return self.token
        if self.token_file:
            with open(self.token_file, encoding="utf-8") as handle:
                return handle.read().strip()
        return None

    def describe(self) -> str:
        if self.token:
            return "bearer token"
        if self.token_file:
            return f"token file {self.token_file}"
        if self.session is not None:
            return str(self.session.describe())
        return "session cookie of ~/.config/kfp/context.json" if self.cookie is None and (
            _context().get("client_authentication_cookie")) else "no token"


@dataclass
class Connection:
    """A ready `kfp.Client` plus what we resolved to build it (for links and messages)."""

    client: Any
    host: str
    namespace: str | None
    ui_host: str | Callable[[], str]  # or: find it out when a link is made (links.py)
    multi_user: bool | None = None  # None: a caller's own client, not probed

    @property
    def pod_namespace(self) -> str:
        """Where a run's pods are: the profile namespace on a multi-user install; else the
        API server's own namespace (`resource_manager.go` `CreateRun` uses `POD_NAMESPACE`
        for runs without one), `kubeflow` on a standard install."""
        if self.multi_user or (self.multi_user is None and self.namespace):
            return self.namespace or "kubeflow"
        return "kubeflow"

    @property
    def ignored_namespace(self) -> str | None:
        """A namespace we were given that a single-user install ignores (`ReplaceNamespace`)."""
        return self.namespace if self.multi_user is False and self.namespace else None

    def run_url(self, run_id: str) -> str:
        return links.run_url(self, run_id)

    def experiment_url(self, experiment_id: str) -> str:
        return links.experiment_url(self, experiment_id)

    def pipeline_url(self, pipeline_id: str, version_id: str | None = None) -> str:
        return links.pipeline_url(self, pipeline_id, version_id)

    @contextlib.contextmanager
    def call(self, action: str, refused: type[UnipKfpError] = RunFailedError) -> Iterator[None]:
        """Run kfp calls: keep kfp's `print`ed links off stdout and map its errors."""
        with api_errors(action, self.host, refused), contextlib.redirect_stdout(io.StringIO()):
            yield


def connect(
    *,
    client: Any = None,
    host: str | None = None,
    namespace: str | None = None,
    token: str | None = None,
    config: KubeflowConfig | None = None,
    probe_timeout: float | None = None,
    token_file: str | None = None,
    ca_cert: str | None = None,
) -> Connection:
    """A `Connection` to Kubeflow: the given client, or a new `kfp.Client` after a quick probe."""
    config = config or KubeflowConfig()
    if client is not None:
        return _wrap(client, namespace or config.namespace)
    resolved_host = resolve_host(host or os.environ.get("KF_PIPELINES_ENDPOINT") or config.host)
    auth = with_session(resolve_auth(token, token_file), resolved_host)
    ca = resolve_ca(ca_cert, config)
    timeout = probe_timeout or float(os.environ.get("UNIP_KFP_CONNECT_TIMEOUT") or 5)
    health = probe(resolved_host, auth, timeout, ca)
    multi_user = bool(health.get("multi_user"))
    chosen_ns = namespace or config.namespace or _context_namespace()
    if multi_user and not chosen_ns:
        chosen_ns = _read(POD_NAMESPACE_PATH)
        if not chosen_ns:
            raise UsageError(
                f"Kubeflow at {resolved_host} is multi-user: choose your profile namespace "
                "with --namespace NS (or kubeflow.namespace in unip-kfp.yaml)"
            )
    ui = links.ui_host(config.ui_host, resolved_host, lambda: _headers(auth), timeout, ca)
    return Connection(_new_client(resolved_host, chosen_ns, auth, ca), resolved_host, chosen_ns,
                      ui, multi_user)


def note_ignored_namespace(connection: Connection, say: Callable[[str], None]) -> None:
    """Say so when a single-user install will drop the namespace we were given."""
    if connection.ignored_namespace:
        say(f"note: Kubeflow at {connection.host} is single-user; it ignores namespace "
            f"'{connection.ignored_namespace}'")


def resolve_host(host: str | None) -> str:
    """The API base URL; no scheme means https (as kfp); none at all is a usage error."""
    if not host:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and _sa_token_file():
            return IN_CLUSTER_HOST
        raise UsageError(
            "no Kubeflow Pipelines host: pass --host URL (or host= in Python), set "
            "KF_PIPELINES_ENDPOINT, or kubeflow.host in unip-kfp.yaml "
            "(a local cluster: kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80, "
            "then --host http://localhost:8080)"
        )
    host = host.strip().rstrip("/")
    if not host.startswith(("http://", "https://")):
        host = "https://" + host
    return host


def resolve_auth(token: str | None, token_file: str | None = None) -> Auth:
    """Explicit token or token file, else UNIP_KFP_TOKEN, else the service-account token file
    (KF_PIPELINES_SA_TOKEN_PATH)."""
    if token:
        return Auth(token=token.strip())
    if token_file:
        if not os.path.isfile(os.path.expanduser(token_file)):
            raise UsageError(f"--token-file {token_file}: no such file")
        return Auth(token_file=os.path.expanduser(token_file))
    if os.environ.get(TOKEN_ENV, "").strip():
        return Auth(token=os.environ[TOKEN_ENV].strip())
    path = _sa_token_file()
    return Auth(token_file=path) if path else Auth()


def with_session(auth: Auth, host: str) -> Auth:
    """Add the host's login session (or keep another host's from being sent; sessions.py).

    A token wins over a session; an expired session of this host is `SessionExpired`."""
    from .sessions import cookie_for

    cookie, session = cookie_for(host, required=not (auth.token or auth.token_file))
    return dataclasses.replace(auth, cookie=cookie, session=session)


def _sa_token_file() -> str | None:
    configured = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH")
    if configured:
        if not os.path.isfile(configured):
            raise UsageError(
                f"KF_PIPELINES_SA_TOKEN_PATH={configured}: no such file (the projected "
                "service-account token of the pod); unset it or fix the path"
            )
        return configured
    return DEFAULT_SA_TOKEN_PATH if os.path.isfile(DEFAULT_SA_TOKEN_PATH) else None


def _read(path: str) -> str | None:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _context() -> dict[str, Any]:
    text = _read(KFP_CONTEXT)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _context_namespace() -> str | None:
    value = _context().get("namespace")
    return value if isinstance(value, str) and value else None


def probe(host: str, auth: Auth, timeout: float, ca_cert: str | None = None) -> dict[str, Any]:
    """`GET <host>/apis/v2beta1/healthz` within `timeout`; failures are `UnreachableError`."""
    url = host + API_PREFIX + "/healthz"
    headers = _headers(auth)
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    # No proxies from the environment: kfp.Client does not use them either.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context(ca_cert))
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise _probe_http_error(host, exc, auth, ca_cert, timeout) from None
    except (urllib.error.URLError, OSError) as exc:
        raise _network_error(host, getattr(exc, "reason", exc), timeout, ca_cert) from None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        other = suggest_prefix(host, ca_cert, timeout, headers)
        hint = f"did you mean --host {other}? (the API answers there)" if other else AUTH_HINT
        raise UnreachableError(
            f"{host} answered {url} with a web page, not the Kubeflow Pipelines API "
            f"(a login page?)\n    hint: {hint}"
        )
    return data


def _headers(auth: Auth) -> dict[str, str]:
    """Authorization and cookie headers as kfp.Client sends them (session: sessions.py)."""
    try:
        bearer = auth.bearer()
    except OSError as exc:
        raise UsageError(f"cannot read the token file {auth.token_file}: {exc.strerror}") from None
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    context = _context()
    cookie = auth.cookie if auth.cookie is not None else context.get("client_authentication_cookie")
    if cookie:
        headers["Cookie"] = str(cookie)
    if context.get("client_authentication_header_name"):
        headers[str(context["client_authentication_header_name"])] = str(
            context.get("client_authentication_header_value") or ""
        )
    return headers


def _network_error(host: str, reason: object, timeout: float, ca_cert: str | None
                   ) -> UnreachableError:
    if isinstance(reason, ssl.SSLError):
        return UnreachableError(tls_failure(f"Kubeflow at {host}", reason, ca_cert))
    return UnreachableError(
        f"cannot reach Kubeflow Pipelines at {host}: {_describe_network(reason, timeout)}"
        "\n    hint: check --host / KF_PIPELINES_ENDPOINT; for a local cluster run "
        "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80 and use "
        "--host http://localhost:8080"
    )


def _probe_http_error(host: str, exc: urllib.error.HTTPError, auth: Auth, ca_cert: str | None,
                      timeout: float) -> UnreachableError:
    message = server_message(_safe_read(exc)) or exc.reason
    if exc.code in (401, 403):
        hint = AUTH_HINT
        if auth.session is not None and not auth.bearer():
            hint = (f"the {auth.session.describe()} was refused: it expired or was signed out "
                    f"on the server; log in again: unip-kfp login --host {auth.session.origin}")
        elif not auth.bearer() and not auth.cookie and exc.code == 401:
            hint = (f"log in: unip-kfp login --host {host} (Kubeflow with Dex), or pass a "
                    "token: --token-file FILE")
        return UnreachableError(
            f"Kubeflow at {host} refused us ({exc.code} {message})\n    hint: {hint}"
        )
    if exc.code == 404:
        other = suggest_prefix(host, ca_cert, timeout, _headers(auth))
        hint = (f"did you mean --host {other}? (the API answers there)" if other else
                "the host is the base URL of the KFP API or UI (KFP >= 2.0), e.g. "
                "http://localhost:8080 after a port-forward, https://HOST/pipeline on the "
                "Kubeflow platform")
        return UnreachableError(
            f"{host} does not serve the Kubeflow Pipelines v2 API (GET {API_PREFIX}/healthz: "
            f"404)\n    hint: {hint}"
        )
    return UnreachableError(f"Kubeflow at {host} is not healthy ({exc.code} {message})")


def _safe_read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except OSError:
        return b""


def _describe_network(reason: object, timeout: float) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    return str(reason)


def _new_client(host: str, namespace: str | None, auth: Auth, ca_cert: str | None = None) -> Any:
    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    options: dict[str, Any] = {"host": host, "ssl_ca_cert": ca_cert}
    if auth.cookie is not None:  # this host's session, or "" to keep another host's away
        options["cookies"] = auth.cookie
    if namespace:
        options["namespace"] = namespace
    if auth.token:
        options["existing_token"] = auth.token
    elif auth.token_file:
        options["credentials"] = ServiceAccountTokenVolumeCredentials(auth.token_file)
    with warnings.catch_warnings(), api_errors("connecting", host, UnreachableError):
        warnings.simplefilter("ignore", FutureWarning)  # "This client only works with ..."
        with contextlib.redirect_stdout(io.StringIO()):
            return kfp.Client(**options)


def _wrap(client: Any, namespace: str | None) -> Connection:
    """A caller's own `kfp.Client`: trust its host, auth and namespace."""
    config = getattr(client, "_existing_config", None)
    host = str(getattr(config, "host", "") or "").rstrip("/")
    try:
        context_ns = client.get_user_namespace() or None
    except (AttributeError, KeyError):
        context_ns = None
    ui_host = str(getattr(client, "_uihost", None) or host).rstrip("/")
    if ui_host and not ui_host.startswith(("http://", "https://")):
        ui_host = "http://" + ui_host
    return Connection(client, host, namespace or context_ns, ui_host)


@contextlib.contextmanager
def api_errors(
    action: str, host: str, refused: type[UnipKfpError] = RunFailedError
) -> Iterator[None]:
    """Map kfp/kfp_server_api failures while `action` to our errors (see the module doc)."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    try:
        yield
    except ApiException as exc:
        raise api_error(exc, action, host, refused) from None
    except (Urllib3Error, ConnectionError, TimeoutError, socket.gaierror) as exc:
        raise KubeflowUnavailable(
            f"lost contact with Kubeflow at {host} while {action}: {exc}", transient=True
        ) from None
    except ValueError as exc:  # kfp's own checks (e.g. several experiments of one name)
        raise refused(f"kfp refused {action}: {exc}") from None

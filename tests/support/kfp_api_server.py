"""A scriptable fake of the KFP 2.17 v2beta1 REST API, served over real HTTP, for tests.

Why real HTTP: tests then drive the unmodified ``kfp.Client`` (its generated
``kfp_server_api`` models, retries, auth headers and multipart uploads) instead of mocking
it, so a wrong JSON shape or a missing field fails here and not on a cluster.

What it reproduces is the KFP 2.17.0 backend (``backend/src/apiserver``), as checked against
that server's own request handling in single-user mode (research note
``kfp-2.17-backend-check.md``); multi-user behaviour is **read from the 2.17 source, not
run**. Each behaviour names its source file where it is implemented:

* routes ``kfp.Client`` 2.17 calls under ``/apis/v2beta1``; ``/healthz`` needs no token
  (``main.go`` serves it outside the authenticated gateway) and says ``multi_user``,
  ``pipeline_store`` and the build's ``commit_sha``/``tag_name``;
* error bodies (``kfp_fake_errors``): gateway ``{"code","message","details"}``, upload
  ``{"error_message","error_details"}`` with a Go stack trace, user errors that answer 500;
* runs (``kfp_fake_runs``): validation order and messages, ``state_history``, CANCELING
  then FAILED for a terminated run, no ``error`` text;
* task details are Argo nodes (``kfp_fake_argo``);
* single-user mode ignores namespaces (``resource_manager.go`` ``ReplaceNamespace``) and has
  a ``Default`` experiment; experiments show ``last_run_created_at`` 1970-01-01 until a run;
* recurring runs and both ways of deleting them (``kfp_fake_recurring``), pipeline version
  deletion (``pipeline_server.go`` ``DeletePipelineVersion``);
* the UI's ``/k8s/pod/logs`` route on the same host, and the runs' pods, whose names follow
  Argo's layout and whose logs the Kubernetes API test server serves too (``kfp_fake_ui``,
  ``kfp_fake_pods``).

What it adds for tests: a record of every request (``requests``), scripted run progress
(``run_script``), fault injection (``fail``) and bearer-token checks (``require_token``).

Run scripts: each ``GET /runs/{id}`` is one report of the run's workflow, the next step of
its script; the last step then stays (``kfp_fake_argo.RunStep``: a run state and Argo
phases by stage name).
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .kfp_fake_argo import (  # noqa: F401  (re-exported for tests)
    RunStep,
    canceled_script,
    failing_script,
    stuck_script,
    succeeding_script,
    terminated_script,
)
from .kfp_fake_errors import CODE_OF_HTTP, ApiError, upload_error
from .kfp_fake_http import RecordedRequest, parse_multipart
from .kfp_fake_pods import PodStore
from .kfp_fake_recurring import RecurringRoutes
from .kfp_fake_routes import PipelineVersionRecord, Routes, parse_package  # noqa: F401
from .kfp_fake_runs import (  # noqa: F401  (re-exported for tests)
    EPOCH,
    RunRecord,
    ScriptLike,
    StepLike,
    as_script,
    now_rfc3339,
    stage_names,
)
from .kfp_fake_ui import UI_KEY_FORMAT, Raw, UiRoutes

API = "/apis/v2beta1"
_UPLOADS = (f"{API}/pipelines/upload", f"{API}/pipelines/upload_version")


@dataclass
class Fault:
    """An injected error; ``times=None`` means forever. ``hits`` counts answered requests."""

    method: str
    path_prefix: str
    error: ApiError
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.method in ("*", method) and path.startswith(self.path_prefix)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: KfpApiServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server; we always send a length
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms stalls
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        pass

    def _handle(self) -> None:
        status, payload = self.server.owner._dispatch(self)
        kind = "application/json"
        if isinstance(payload, Raw):
            status, kind, data = payload.status, payload.content_type, payload.body.encode()
        else:
            data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle


Route = tuple[str, "re.Pattern[str]", Callable[..., Any]]


class KfpApiServer(RecurringRoutes, UiRoutes, Routes):
    """Fake KFP v2beta1 API server on ``127.0.0.1``; use as a context manager or start/stop.

    Args:
        multi_user: what ``/healthz`` reports, and whether namespaces count; single-user
            mode also creates ``Default``.
        run_script: see :attr:`run_script`.
        port: 0 picks a free port.
        pods: the cluster's pods, shared with a ``K8sApiServer`` (a new store by default).
        ui: whether the host is the UI (``/k8s/pod/logs``) or the API server itself.
    """

    def __init__(
        self, *, multi_user: bool = False, run_script: ScriptLike | None = None, port: int = 0,
        pods: PodStore | None = None, ui: bool = True,
    ) -> None:
        self.multi_user = multi_user
        self.run_script: ScriptLike | None = run_script
        """Script for each *new* run: a list of steps, or a function of the stage display
        names returning one, or ``None`` for :func:`succeeding_script` over the stages found
        in the submitted IR. Per-run changes: :meth:`set_run_script`."""
        self.require_token: str | None = None
        """When set, requests need ``Authorization: Bearer <token>``; no token gives 401,
        another token 403. Paths in ``auth_exempt`` (healthz) are always open."""
        self.auth_exempt: set[str] = {f"{API}/healthz"}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.experiments: dict[str, dict[str, Any]] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, PipelineVersionRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.recurring_runs: dict[str, dict[str, Any]] = {}
        self.cascade_always = False
        """Delete a recurring run's workflows whatever ``propagation_policy`` says."""
        self.pods = pods if pods is not None else PodStore()
        self.ui = ui
        self.stage_logs: dict[str, str] = {}
        """Main-container log of each stage's pod, by stage display name or task key."""
        self.ui_archive: Callable[[str, str], bytes] | None = None
        """How the UI reads its log archive: ``(bucket, key) -> bytes`` (None: no archive)."""
        self.ui_key_format = UI_KEY_FORMAT
        self._lock = threading.RLock()
        self._httpd: _HttpServer | None = None
        self._port = port
        if not multi_user:  # model/default_experiment.go, created at startup
            self._new_experiment(
                "Default",
                "All runs created without specifying an experiment will be grouped here.",
                "",
            )
        e, p, r = rf"{API}/experiments", rf"{API}/pipelines", rf"{API}/runs"
        j = rf"{API}/recurringruns"
        self._routes: list[Route] = [
            (m, re.compile(rx + "$"), fn)
            for m, rx, fn in [
                ("GET", rf"{API}/healthz", self._healthz),
                ("GET", e, self._list_experiments),
                ("POST", e, self._create_experiment),
                ("GET", rf"{e}/([^/:]+)", self._get_experiment),
                ("POST", rf"{p}/upload", self._upload_pipeline),
                ("POST", rf"{p}/upload_version", self._upload_version),
                ("POST", p, self._create_pipeline),
                ("GET", p, self._list_pipelines),
                ("GET", rf"{p}/names/([^/]+)", self._get_pipeline_by_name),
                ("GET", rf"{p}/([^/]+)", self._get_pipeline),
                ("GET", rf"{p}/([^/]+)/versions", self._list_versions),
                ("GET", rf"{p}/([^/]+)/versions/([^/]+)", self._get_version),
                ("POST", r, self._create_run),
                ("GET", r, self._list_runs),
                ("GET", rf"{r}/([^/:]+)", self._get_run),
                ("POST", rf"{r}/([^/:]+):terminate", self._terminate_run),
                ("DELETE", rf"{p}/([^/]+)/versions/([^/]+)", self._delete_version),
                ("POST", j, self._create_recurring_run),
                ("GET", j, self._list_recurring_runs),
                ("GET", rf"{j}/([^/:]+)", self._get_recurring_run),
                ("POST", rf"{j}/([^/:]+):enable", self._enable_recurring_run),
                ("POST", rf"{j}/([^/:]+):disable", self._disable_recurring_run),
                ("DELETE", rf"{j}/([^/:]+)", self._delete_recurring_run),
                ("GET", r"(?:/pipeline)?/k8s/pod/logs", self._ui_pod_logs),
                ("GET", r"(?:/pipeline)?/", self._ui_index),
            ]
        ]

    # ---- lifecycle

    def start(self) -> KfpApiServer:
        self._httpd = _HttpServer(("127.0.0.1", self._port), _Handler)
        self._httpd.owner = self
        threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-kfp-api",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> KfpApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` — pass as ``kfp.Client(host=...)``."""
        return f"http://127.0.0.1:{self.port}"

    # ---- test controls

    def fail(
        self,
        method: str,
        path_prefix: str,
        status: int,
        message: str = "injected fault",
        times: int | None = None,
        *,
        go_error: bool = False,
    ) -> Fault:
        """Answer matching requests with an error (before auth and routing).

        ``method`` may be ``"*"``; ``path_prefix`` may omit ``/apis/v2beta1``
        (``fail("POST", "/runs", 500)``). The upload routes answer in their own shape, with
        a Go stack trace in ``error_details``; ``go_error`` makes a gateway error a plain Go
        error (code 13, "Internal error: ..." and a stack trace). A 5xx's external message
        is "Internal Server Error", as ``NewInternalServerError`` makes it. Later ``fail``
        calls win over earlier ones.
        """
        if not path_prefix.startswith("/apis/"):
            path_prefix = API + path_prefix
        if path_prefix.startswith(_UPLOADS):
            error = upload_error(status, message)
        else:
            external = "Internal Server Error" if status >= 500 else message
            error = ApiError(CODE_OF_HTTP.get(status, 2), message, external, status=status,
                             go_error=go_error)
        return self.fail_with(method, path_prefix, error, times)

    def fail_with(self, method: str, path_prefix: str, error: ApiError,
                  times: int | None = None) -> Fault:
        """Answer matching requests with ``error`` as built by ``kfp_fake_errors``."""
        if not path_prefix.startswith("/apis/"):
            path_prefix = API + path_prefix
        fault = Fault(method.upper(), path_prefix, error, times)
        with self._lock:
            self.faults.insert(0, fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_run_script(self, run_id: str, script: Iterable[StepLike]) -> None:
        """Replace the script of an existing run; its next ``GET`` reports the first step."""
        with self._lock:
            record = self.runs[run_id]
            record.script, record.polls = as_script(list(script)), 0

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests filtered by method and exact path (``/runs`` or full path)."""
        if path is not None and not path.startswith("/apis/"):
            path = API + path
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or r.path == path)
        ]

    def last_run(self) -> RunRecord:
        return list(self.runs.values())[-1]

    def experiment_by_name(self, name: str) -> dict[str, Any]:
        return next(e for e in self.experiments.values() if e["display_name"] == name)

    def pipeline_by_name(self, name: str) -> dict[str, Any]:
        return next(p for p in self.pipelines.values() if p["display_name"] == name)

    # ---- dispatch

    def _dispatch(self, h: _Handler) -> tuple[int, Any]:
        request = self._record(h)
        try:
            with self._lock:
                for fault in self.faults:
                    if fault.matches(request.method, request.path):
                        fault.hits += 1
                        raise fault.error
                self._check_auth(request)
                allowed = []
                for method, rx, fn in self._routes:
                    m = rx.match(request.path)
                    if m:
                        if method == request.method:
                            args = [urllib.parse.unquote(g) for g in m.groups()]
                            return 200, fn(request, *args)
                        allowed.append(method)
                if allowed:
                    raise ApiError(12, "Method Not Allowed", status=405)
                raise ApiError(5, "Not Found")
        except ApiError as e:
            return e.status, e.body()

    def _record(self, h: _Handler) -> RecordedRequest:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        request = RecordedRequest(h.command, url.path, query, dict(h.headers.items()), body)
        ctype = h.headers.get("Content-Type", "")
        if body and ctype.startswith("application/json"):
            try:
                request.json = json.loads(body)
            except ValueError:
                request.json = None
        elif body and ctype.startswith("multipart/form-data"):
            request.parts = parse_multipart(ctype, body)
        with self._lock:
            self.requests.append(request)
        return request

    def _check_auth(self, request: RecordedRequest) -> None:
        if self.require_token is None or request.path in self.auth_exempt:
            return
        auth = request.authorization or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(16, "Unauthenticated: request has no bearer token",
                           "Request header error: there is no user identity header.")
        if auth[7:].strip() != self.require_token:
            raise ApiError(7, "PermissionDenied: the bearer token is not authorized",
                           "Unauthorized access")

    # ---- healthz (the other routes: kfp_fake_routes.Routes)

    def _healthz(self, request: RecordedRequest) -> dict[str, Any]:
        return {
            "commit_sha": "fake",
            "tag_name": "2.17.0",
            "multi_user": self.multi_user,
            "pipeline_store": "database",
        }

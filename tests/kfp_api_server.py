"""A scriptable fake of the KFP v2beta1 REST API, served over real HTTP, for tests.

Why real HTTP: tests can then drive the unmodified ``kfp.Client`` (and its generated
``kfp_server_api`` models, retries, auth headers and multipart uploads) instead of
mocking it, so a wrong JSON shape or a missing field fails here and not on a cluster.

What it mimics (KFP backend 2.17, ``backend/src/apiserver``):

* The routes ``kfp.Client`` 2.17 calls under ``/apis/v2beta1`` (see the research notes,
  Q9): healthz, experiments, pipeline upload and versions, runs.
* grpc-gateway JSON: ``UseProtoNames`` with ``EmitUnpopulated=false``, so empty lists and a
  zero ``total_size`` are *omitted* (``list_runs().runs`` is ``None``, not ``[]``).
* grpc-gateway errors: ``{"error", "code", "message", "details"}`` with the HTTP status
  that matches the gRPC code. The two multipart upload routes are plain HTTP handlers
  upstream and answer ``{"error_message", "error_details"}`` instead (409 on a
  duplicate name), which this server copies.
* Single-user mode creates a ``Default`` experiment at startup, like the real server.
* ``/healthz`` needs no token: the upstream route sits outside the authenticated
  gateway, and ``kfp.Client()`` retries it 5 x 5 s, so a failing healthz stalls tests.

What it adds for tests: a record of every request (``requests``), scripted run progress
(``run_script``), fault injection (``fail``) and bearer-token checks (``require_token``).

Run scripts: each ``GET /runs/{id}`` moves the run one step along its script. The last
step then stays. A step is a :class:`RunStep`, a state string, or a tuple
``(state, {task display name: task state}, error message)`` with the last parts optional.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

API = "/apis/v2beta1"

RUNTIME_STATES = frozenset(
    {"PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED", "PAUSED"}
)
TERMINAL_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})

# HTTP status -> (gRPC code, gRPC code name), as grpc-gateway maps them.
_GRPC = {
    400: (3, "InvalidArgument"),
    401: (16, "Unauthenticated"),
    403: (7, "PermissionDenied"),
    404: (5, "NotFound"),
    405: (12, "Unimplemented"),
    409: (6, "AlreadyExists"),
    412: (9, "FailedPrecondition"),
    429: (8, "ResourceExhausted"),
    500: (13, "Internal"),
    501: (12, "Unimplemented"),
    503: (14, "Unavailable"),
    504: (4, "DeadlineExceeded"),
}
# Predicate operations, by number (what kfp.Client sends) and by name (protojson also accepts).
_OPS = {
    1: "EQUALS",
    2: "NOT_EQUALS",
    3: "GREATER_THAN",
    5: "GREATER_THAN_EQUALS",
    6: "LESS_THAN",
    7: "LESS_THAN_EQUALS",
    8: "IN",
    9: "IS_SUBSTRING",
}
_DEFAULT_PAGE_SIZE = 20


def now_rfc3339() -> str:
    """UTC time as protojson prints it (RFC 3339, ``Z`` suffix, millisecond precision)."""
    t = datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class ApiError(Exception):
    """Raised by route handlers; becomes an error response with ``status``."""

    def __init__(self, status: int, message: str, *, upload_style: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.upload_style = upload_style


def error_body(status: int, message: str) -> dict[str, Any]:
    """The grpc-gateway error JSON for ``status`` (``error`` is the v1 gateway's alias)."""
    code = _GRPC.get(status, (2, "Unknown"))[0]
    return {"error": message, "code": code, "message": message, "details": []}


# --------------------------------------------------------------------------- records


@dataclass
class MultipartPart:
    """One part of a ``multipart/form-data`` body; ``data`` holds the exact bytes."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request exactly as the client sent it, kept so tests can assert on the wire."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    parts: list[MultipartPart] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)

    @property
    def authorization(self) -> str | None:
        return self.header("Authorization")

    @property
    def files(self) -> dict[str, MultipartPart]:
        """Multipart parts that carry a filename, by form field name (``uploadfile``)."""
        return {p.name or "": p for p in self.parts if p.filename is not None}


@dataclass
class RunStep:
    """One scripted observation of a run: run state, task states by display name, error."""

    state: str
    tasks: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        bad = [s for s in [self.state, *self.tasks.values()] if s not in RUNTIME_STATES]
        if bad:
            raise ValueError(f"unknown runtime state(s) {bad}; use {sorted(RUNTIME_STATES)}")


StepLike = RunStep | str | tuple
ScriptLike = Sequence[StepLike] | Callable[[list[str]], Sequence[StepLike]]


def as_step(step: StepLike) -> RunStep:
    """Normalise the short forms ``"RUNNING"`` and ``("FAILED", {...}, "msg")``."""
    if isinstance(step, RunStep):
        return copy.deepcopy(step)
    if isinstance(step, str):
        return RunStep(step)
    state, *rest = step
    tasks = dict(rest[0]) if rest and rest[0] else {}
    error = rest[1] if len(rest) > 1 else None
    return RunStep(state, tasks, error)


def as_script(script: Iterable[StepLike]) -> list[RunStep]:
    steps = [as_step(s) for s in script]
    if not steps:
        raise ValueError("a run script needs at least one step")
    return steps


# Script builders. Each takes the stage (task display) names, in execution order.


def succeeding_script(stages: Sequence[str]) -> list[RunStep]:
    """Stages run one after another, then the run succeeds: len(stages) + 1 polls."""
    steps = [
        RunStep("RUNNING", {**{s: "SUCCEEDED" for s in stages[:i]}, stages[i]: "RUNNING"})
        for i in range(len(stages))
    ] or [RunStep("RUNNING")]
    steps.append(RunStep("SUCCEEDED", {s: "SUCCEEDED" for s in stages}))
    return steps


def failing_script(
    stages: Sequence[str], failed_stage: str | None = None, error: str = "task failed"
) -> list[RunStep]:
    """Runs until ``failed_stage`` (default: the last one) fails; later stages never start."""
    failed_stage = failed_stage or (stages[-1] if stages else None)
    done = list(stages[: stages.index(failed_stage)]) if failed_stage in stages else []
    steps = succeeding_script(done)[:-1]
    tasks = {s: "SUCCEEDED" for s in done}
    if failed_stage:
        steps.append(RunStep("RUNNING", {**tasks, failed_stage: "RUNNING"}))
        tasks[failed_stage] = "FAILED"
    steps.append(RunStep("FAILED", tasks, error))
    return steps


def stuck_script(stages: Sequence[str]) -> list[RunStep]:
    """The first stage runs forever (for timeout and cancel tests)."""
    return [RunStep("RUNNING", {stages[0]: "RUNNING"} if stages else {})]


def canceled_script(stages: Sequence[str]) -> list[RunStep]:
    """The first stage starts, then the run is canceled by someone else."""
    first = stages[:1]
    return [
        RunStep("RUNNING", {s: "RUNNING" for s in first}),
        RunStep("CANCELING", {s: "CANCELING" for s in first}),
        RunStep("CANCELED", {s: "CANCELED" for s in first}),
    ]


@dataclass
class Fault:
    """An injected error; ``times=None`` means forever. ``hits`` counts answered requests."""

    method: str
    path_prefix: str
    status: int
    message: str
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.method in ("*", method) and path.startswith(self.path_prefix)


@dataclass
class PipelineVersionRecord:
    """A stored pipeline version: its API JSON plus the exact uploaded package bytes."""

    json: dict[str, Any]
    package: bytes
    filename: str

    @property
    def pipeline_id(self) -> str:
        return self.json["pipeline_id"]

    @property
    def pipeline_spec(self) -> Any:
        return self.json.get("pipeline_spec")


@dataclass
class RunRecord:
    """A stored run: the posted body, the API JSON and the script driving its state."""

    body: dict[str, Any]
    json: dict[str, Any]
    stages: list[str]
    script: list[RunStep]
    polls: int = 0
    task_ids: dict[str, str] = field(default_factory=dict)
    task_times: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.json["run_id"]

    @property
    def current(self) -> RunStep:
        """The step last shown to a client (PENDING before the first ``GET``)."""
        return (
            self.script[min(self.polls, len(self.script)) - 1] if self.polls else RunStep("PENDING")
        )

    @property
    def state(self) -> str:
        return self.current.state


def stage_names(pipeline_spec: Any) -> list[str]:
    """Task display names (``taskInfo.name``) of the root DAG of a compiled IR.

    These are what the real backend reports as ``task_details[].display_name``. Order:
    topological by ``dependentTasks``, ties by task key. Key order in the posted JSON
    is no guide: ``kfp.Client`` round-trips the spec through a protobuf Struct, whose
    map order changes from process to process.
    """
    if not isinstance(pipeline_spec, dict):
        return []
    if "root" not in pipeline_spec and isinstance(pipeline_spec.get("pipeline_spec"), dict):
        pipeline_spec = pipeline_spec["pipeline_spec"]  # {"pipeline_spec", "platform_spec"}
    tasks = (pipeline_spec.get("root") or {}).get("dag", {}).get("tasks", {})
    waiting = {key: set(t.get("dependentTasks") or []) & set(tasks) for key, t in tasks.items()}
    order: list[str] = []
    while waiting:
        ready = sorted(k for k, deps in waiting.items() if not deps) or sorted(waiting)[:1]
        for key in ready:
            del waiting[key]
            order.append(key)
        for deps in waiting.values():
            deps.difference_update(ready)
    return [(tasks[k].get("taskInfo") or {}).get("name") or k for k in order]


def parse_package(data: bytes) -> Any:
    """Parse a pipeline package (YAML/JSON IR) the way the server returns ``pipeline_spec``.

    A second YAML document is the platform spec; the backend then returns both, keyed.
    """
    try:
        docs = [d for d in yaml.safe_load_all(data.decode("utf-8")) if d is not None]
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise ApiError(400, "Failed to read a pipeline spec file", upload_style=True) from e
    if not docs or not all(isinstance(d, dict) for d in docs) or len(docs) > 2:
        raise ApiError(400, "Failed to read a pipeline spec file", upload_style=True)
    if len(docs) == 2:
        return {"pipeline_spec": docs[0], "platform_spec": docs[1]}
    return docs[0]


def _matches_filter(obj: dict[str, Any], filter_json: str | None) -> bool:
    """Evaluate a v2beta1 ``Filter`` (all predicates AND-ed) against a resource's JSON."""
    if not filter_json:
        return True
    try:
        predicates = json.loads(filter_json).get("predicates") or []
    except (ValueError, AttributeError) as e:
        raise ApiError(400, f"Invalid filter: {filter_json}") from e
    for p in predicates:
        op = p.get("operation")
        op = _OPS.get(op, op) if isinstance(op, int) else op
        key = p.get("key", "")
        actual = obj.get(key)
        value = next(
            (
                p[k]
                for k in (
                    "string_value",
                    "stringValue",
                    "int_value",
                    "intValue",
                    "long_value",
                    "longValue",
                    "timestamp_value",
                    "timestampValue",
                )
                if k in p
            ),
            None,
        )
        values = next(
            (
                p[k].get("values", [])
                for k in ("string_values", "stringValues", "int_values", "intValues")
                if k in p
            ),
            [],
        )
        if op == "EQUALS":
            ok = actual == value or str(actual) == str(value)
        elif op == "NOT_EQUALS":
            ok = not (actual == value or str(actual) == str(value))
        elif op == "IN":
            ok = actual in values or str(actual) in map(str, values)
        elif op == "IS_SUBSTRING":
            ok = str(value) in str(actual or "")
        elif op in ("GREATER_THAN", "GREATER_THAN_EQUALS", "LESS_THAN", "LESS_THAN_EQUALS"):
            if actual is None:
                return False
            a, v = (
                (float(actual), float(value))
                if isinstance(actual, (int, float))
                else (str(actual), str(value))
            )
            ok = {
                "GREATER_THAN": a > v,
                "GREATER_THAN_EQUALS": a >= v,
                "LESS_THAN": a < v,
                "LESS_THAN_EQUALS": a <= v,
            }[op]
        else:
            raise ApiError(400, f"Invalid filter operation: {p.get('operation')!r}")
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------- server


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
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle


Route = tuple[str, "re.Pattern[str]", Callable[..., Any]]


class KfpApiServer:
    """Fake KFP v2beta1 API server on ``127.0.0.1``; use as a context manager or start/stop.

    Args:
        multi_user: what ``/healthz`` reports; single-user mode also creates ``Default``.
        run_script: see :attr:`run_script`.
        port: 0 picks a free port.
    """

    def __init__(
        self, *, multi_user: bool = False, run_script: ScriptLike | None = None, port: int = 0
    ) -> None:
        self.multi_user = multi_user
        self.run_script: ScriptLike | None = run_script
        """Script for each *new* run: a list of steps, or a function of the stage names
        returning one, or ``None`` for :func:`succeeding_script` over the stages found in the
        submitted IR. Per-run changes: :meth:`set_run_script`."""
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
        self._lock = threading.RLock()
        self._httpd: _HttpServer | None = None
        self._port = port
        if not multi_user:
            self._new_experiment(
                "Default",
                "All runs created without specifying an experiment will be grouped here.",
                "",
            )
        e, p, r = rf"{API}/experiments", rf"{API}/pipelines", rf"{API}/runs"
        self._routes: list[Route] = [
            (m, re.compile(rx + "$"), fn)
            for m, rx, fn in [
                ("GET", rf"{API}/healthz", self._healthz),
                ("GET", e, self._list_experiments),
                ("POST", e, self._create_experiment),
                ("GET", rf"{e}/([^/:]+)", self._get_experiment),
                ("POST", rf"{p}/upload", self._upload_pipeline),
                ("POST", rf"{p}/upload_version", self._upload_version),
                ("GET", p, self._list_pipelines),
                ("GET", rf"{p}/names/([^/]+)", self._get_pipeline_by_name),
                ("GET", rf"{p}/([^/]+)", self._get_pipeline),
                ("GET", rf"{p}/([^/]+)/versions", self._list_versions),
                ("GET", rf"{p}/([^/]+)/versions/([^/]+)", self._get_version),
                ("POST", r, self._create_run),
                ("GET", r, self._list_runs),
                ("GET", rf"{r}/([^/:]+)", self._get_run),
                ("POST", rf"{r}/([^/:]+):terminate", self._terminate_run),
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
    ) -> Fault:
        """Answer matching requests with an error (before auth and routing).

        ``method`` may be ``"*"``; ``path_prefix`` may omit ``/apis/v2beta1``
        (``fail("POST", "/runs", 500)``). Later ``fail`` calls win over earlier ones.
        """
        if not path_prefix.startswith("/apis/"):
            path_prefix = API + path_prefix
        fault = Fault(method.upper(), path_prefix, status, message, times)
        with self._lock:
            self.faults.insert(0, fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_run_script(self, run_id: str, script: Iterable[StepLike]) -> None:
        """Replace the script of an existing run; its next ``GET`` shows the first step."""
        with self._lock:
            record = self.runs[run_id]
            record.script, record.polls = as_script(script), 0

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
                        raise ApiError(fault.status, fault.message)
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
                    raise ApiError(405, f"Method Not Allowed ({request.method} {request.path})")
                raise ApiError(
                    404, f"Not Found (fake KFP server has no route {request.method} {request.path})"
                )
        except ApiError as e:
            if e.upload_style:
                return e.status, {"error_message": e.message, "error_details": e.message}
            return e.status, error_body(e.status, e.message)

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
            request.parts = _parse_multipart(ctype, body)
        with self._lock:
            self.requests.append(request)
        return request

    def _check_auth(self, request: RecordedRequest) -> None:
        if self.require_token is None or request.path in self.auth_exempt:
            return
        auth = request.authorization or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, "Unauthenticated: request has no bearer token")
        if auth[7:].strip() != self.require_token:
            raise ApiError(403, "PermissionDenied: the bearer token is not authorized")

    # ---- helpers

    @staticmethod
    def _page(items: list[dict[str, Any]], q: dict[str, str], key: str) -> dict[str, Any]:
        """Sort, paginate and shape a list response (``EmitUnpopulated=false``)."""
        sort_by = q.get("sort_by", "").split()
        if sort_by:
            items = sorted(
                items, key=lambda i: str(i.get(sort_by[0], "")), reverse=sort_by[-1:] == ["desc"]
            )
        size = int(q.get("page_size") or 0) or _DEFAULT_PAGE_SIZE
        start = int(q.get("page_token") or 0)
        out: dict[str, Any] = {}
        if items[start : start + size]:
            out[key] = copy.deepcopy(items[start : start + size])
        if items:
            out["total_size"] = len(items)
        if start + size < len(items):
            out["next_page_token"] = str(start + size)
        return out

    def _new_experiment(self, name: str, description: str, namespace: str) -> dict[str, Any]:
        exp = {
            "experiment_id": str(uuid.uuid4()),
            "display_name": name,
            "created_at": now_rfc3339(),
            "storage_state": "AVAILABLE",
        }
        if description:
            exp["description"] = description
        if namespace:
            exp["namespace"] = namespace
        self.experiments[exp["experiment_id"]] = exp
        return exp

    @staticmethod
    def _upload_part(request: RecordedRequest) -> MultipartPart:
        part = request.files.get("uploadfile")
        if part is None:
            raise ApiError(400, "Failed to read pipeline from file", upload_style=True)
        return part

    @staticmethod
    def _name_from(request: RecordedRequest, filename: str) -> str:
        """Upstream ``buildPipelineName``: name, else display_name, else the file's stem."""
        q = request.query
        return q.get("name") or q.get("display_name") or filename.split(".")[0]

    def _add_version(
        self, pipeline_id: str, name: str, display_name: str, description: str, part: MultipartPart
    ) -> dict[str, Any]:
        spec = parse_package(part.data)
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": str(uuid.uuid4()),
            "name": name,
            "display_name": display_name,
            "created_at": now_rfc3339(),
            "pipeline_spec": spec,
        }
        if description:
            version["description"] = description
        self.versions[version["pipeline_version_id"]] = PipelineVersionRecord(
            version, part.data, part.filename or ""
        )
        return version

    def _experiment(self, experiment_id: str) -> dict[str, Any]:
        if experiment_id not in self.experiments:
            raise ApiError(404, f"Experiment {experiment_id} not found")
        return self.experiments[experiment_id]

    def _pipeline(self, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"Pipeline {pipeline_id} not found")
        return self.pipelines[pipeline_id]

    def _run(self, run_id: str) -> RunRecord:
        if run_id not in self.runs:
            raise ApiError(404, f"Run {run_id} not found")
        return self.runs[run_id]

    # ---- healthz and experiments

    def _healthz(self, request: RecordedRequest) -> dict[str, Any]:
        return {
            "commit_sha": "fake",
            "tag_name": "2.17.0",
            "multi_user": self.multi_user,
            "pipeline_store": "database",
        }

    def _list_experiments(self, request: RecordedRequest) -> dict[str, Any]:
        q = request.query
        ns = q.get("namespace")
        items = [
            e
            for e in self.experiments.values()
            if (not ns or e.get("namespace") == ns) and _matches_filter(e, q.get("filter"))
        ]
        return self._page(items, q, "experiments")

    def _create_experiment(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        name, ns = body.get("display_name") or "", body.get("namespace") or ""
        if not name:
            raise ApiError(400, "Failed to create a new experiment: experiment name is empty")
        if any(
            e["display_name"] == name and e.get("namespace", "") == ns
            for e in self.experiments.values()
        ):
            raise ApiError(
                409,
                f"Failed to create a new experiment. The name {name!r} already "
                f"exists. Please specify a new name",
            )
        return copy.deepcopy(self._new_experiment(name, body.get("description") or "", ns))

    def _get_experiment(self, request: RecordedRequest, experiment_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._experiment(experiment_id))

    # ---- pipelines and versions

    def _upload_pipeline(self, request: RecordedRequest) -> dict[str, Any]:
        part = self._upload_part(request)
        q = request.query
        name = self._name_from(request, part.filename or "")
        ns = q.get("namespace", "")
        if any(p["name"] == name and p.get("namespace", "") == ns for p in self.pipelines.values()):
            raise ApiError(
                409, "Failed to create a pipeline and a pipeline version", upload_style=True
            )
        pipeline = {
            "pipeline_id": str(uuid.uuid4()),
            "name": name,
            "display_name": q.get("display_name") or name,
            "created_at": now_rfc3339(),
        }
        if q.get("description"):
            pipeline["description"] = q["description"]
        if ns:
            pipeline["namespace"] = ns
        # Upstream creates the pipeline and its first version (same names) in one step.
        self._add_version(
            pipeline["pipeline_id"], name, pipeline["display_name"], q.get("description", ""), part
        )
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return copy.deepcopy(pipeline)

    def _upload_version(self, request: RecordedRequest) -> dict[str, Any]:
        part = self._upload_part(request)
        q = request.query
        pipeline_id = q.get("pipelineid", "")
        if pipeline_id not in self.pipelines:
            raise ApiError(400, "Failed to create a pipeline version", upload_style=True)
        name = self._name_from(request, part.filename or "")
        if any(
            v.pipeline_id == pipeline_id and v.json["name"] == name for v in self.versions.values()
        ):
            raise ApiError(409, "Failed to create a pipeline version", upload_style=True)
        return copy.deepcopy(
            self._add_version(
                pipeline_id, name, q.get("display_name") or name, q.get("description", ""), part
            )
        )

    def _list_pipelines(self, request: RecordedRequest) -> dict[str, Any]:
        q = request.query
        ns = q.get("namespace")
        items = [
            p
            for p in self.pipelines.values()
            if (not ns or p.get("namespace") == ns) and _matches_filter(p, q.get("filter"))
        ]
        return self._page(items, q, "pipelines")

    def _get_pipeline(self, request: RecordedRequest, pipeline_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._pipeline(pipeline_id))

    def _get_pipeline_by_name(self, request: RecordedRequest, name: str) -> dict[str, Any]:
        ns = request.query.get("namespace", "")
        for p in self.pipelines.values():
            if p["name"] == name and p.get("namespace", "") == ns:
                return copy.deepcopy(p)
        raise ApiError(404, f"Pipeline {name} not found")

    def _list_versions(self, request: RecordedRequest, pipeline_id: str) -> dict[str, Any]:
        self._pipeline(pipeline_id)
        q = request.query
        items = [
            v.json
            for v in self.versions.values()
            if v.pipeline_id == pipeline_id and _matches_filter(v.json, q.get("filter"))
        ]
        return self._page(items, q, "pipeline_versions")

    def _get_version(
        self, request: RecordedRequest, pipeline_id: str, version_id: str
    ) -> dict[str, Any]:
        record = self.versions.get(version_id)
        if record is None or record.pipeline_id != pipeline_id:
            raise ApiError(404, f"Pipeline version {version_id} not found")
        return copy.deepcopy(record.json)

    # ---- runs

    def _create_run(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json
        if not isinstance(body, dict):
            raise ApiError(400, "Failed to create a run: the request body is not a JSON object")
        if not body.get("display_name"):
            raise ApiError(400, "Failed to create a run: run name is empty")
        ref, spec = body.get("pipeline_version_reference"), body.get("pipeline_spec")
        if not spec and not (ref and ref.get("pipeline_id")):
            raise ApiError(
                400,
                "Failed to create a run: a pipeline spec or a pipeline version "
                "reference is required",
            )
        if ref and ref.get("pipeline_id") and not spec:
            self._pipeline(ref["pipeline_id"])
            vid = ref.get("pipeline_version_id")
            if not vid:  # no version: upstream uses the pipeline's latest version
                vid = [v for v, r in self.versions.items() if r.pipeline_id == ref["pipeline_id"]][
                    -1
                ]
                ref = {**ref, "pipeline_version_id": vid}
            if vid not in self.versions or self.versions[vid].pipeline_id != ref["pipeline_id"]:
                raise ApiError(404, f"Pipeline version {vid} not found")
            spec_for_stages = self.versions[vid].pipeline_spec
        else:
            spec_for_stages = spec
        experiment_id = body.get("experiment_id") or ""
        if not experiment_id:
            default = [e for e in self.experiments.values() if e["display_name"] == "Default"]
            experiment_id = (default[0] if default else self._new_experiment("Default", "", ""))[
                "experiment_id"
            ]
        experiment = self._experiment(experiment_id)
        created = now_rfc3339()
        experiment["last_run_created_at"] = created
        run = {k: copy.deepcopy(v) for k, v in body.items() if v not in (None, "", {}, [])}
        run.update(
            {
                "run_id": str(uuid.uuid4()),
                "experiment_id": experiment_id,
                "storage_state": "AVAILABLE",
                "created_at": created,
                "scheduled_at": created,
                "state": "PENDING",
                "state_history": [{"update_time": created, "state": "PENDING"}],
            }
        )
        if ref and not spec:
            run["pipeline_version_reference"] = ref
        stages = stage_names(spec_for_stages)
        script = self.run_script
        if script is None:
            script = succeeding_script(stages)
        elif callable(script):
            script = script(stages)
        record = RunRecord(copy.deepcopy(body), run, stages, as_script(script))
        self.runs[record.run_id] = record
        return self._render(record)

    def _render(self, record: RunRecord) -> dict[str, Any]:
        """The run JSON as of its current step; task timestamps stick once set."""
        step, t = record.current, now_rfc3339()
        run = copy.deepcopy(record.json)
        run["state"] = step.state
        history = run["state_history"]
        if record.polls and history[-1]["state"] != step.state:
            history.append({"update_time": t, "state": step.state})
            record.json["state_history"] = copy.deepcopy(history)
        if step.state in TERMINAL_STATES:
            record.json.setdefault("finished_at", t)
            run["finished_at"] = record.json["finished_at"]
        if step.error:
            run["error"] = {"code": 2, "message": step.error, "details": []}
        tasks = []
        for name, state in step.tasks.items():
            task_id = record.task_ids.setdefault(name, str(uuid.uuid4()))
            times = record.task_times.setdefault(name, {"create_time": t})
            if state != "PENDING":
                times.setdefault("start_time", t)
            if state in TERMINAL_STATES:
                times.setdefault("end_time", t)
            task: dict[str, Any] = {
                "run_id": record.run_id,
                "task_id": task_id,
                "display_name": name,
                "state": state,
                **times,
                "state_history": [{"update_time": times["create_time"], "state": state}],
            }
            if state == "FAILED" and step.error:
                task["error"] = {"code": 2, "message": step.error, "details": []}
            tasks.append(task)
        if tasks:
            run["run_details"] = {"task_details": tasks}
        return run

    def _get_run(self, request: RecordedRequest, run_id: str) -> dict[str, Any]:
        record = self._run(run_id)
        record.polls += 1
        return self._render(record)

    def _list_runs(self, request: RecordedRequest) -> dict[str, Any]:
        q = request.query
        exp, ns = q.get("experiment_id"), q.get("namespace")
        items = []
        for record in self.runs.values():
            run = self._render(record)
            run_ns = self.experiments.get(run["experiment_id"], {}).get("namespace")
            if (
                (not exp or run["experiment_id"] == exp)
                and (not ns or run_ns == ns)
                and _matches_filter(run, q.get("filter"))
            ):
                items.append(run)
        return self._page(items, q, "runs")

    def _terminate_run(self, request: RecordedRequest, run_id: str) -> dict[str, Any]:
        record = self._run(run_id)
        step = record.current
        if step.state not in TERMINAL_STATES:
            live = {
                n: ("CANCELING" if s not in TERMINAL_STATES else s) for n, s in step.tasks.items()
            }
            done = {n: ("CANCELED" if s == "CANCELING" else s) for n, s in live.items()}
            self.set_run_script(run_id, [RunStep("CANCELING", live), RunStep("CANCELED", done)])
        return {}


def _parse_multipart(content_type: str, body: bytes) -> list[MultipartPart]:
    """Split a multipart/form-data body exactly (no newline or charset rewriting)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return []
    parts = []
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("Content-Disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        parts.append(
            MultipartPart(
                name.group(1) if name else None,
                filename.group(1) if filename else None,
                headers.get("Content-Type"),
                data,
            )
        )
    return parts

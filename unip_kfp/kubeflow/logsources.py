"""Where a stage pod's log can be read, in the order `logs.py` tries them.

1. **The Kubernetes API** (`kubernetes` client: kubeconfig or the pod's service account,
   `kube.py`): `GET /api/v1/namespaces/{ns}/pods/{pod}/log?container=main`, with a server-side
   tail and `follow`. Works while the pod exists: KFP 2.17 sets no pod GC, and its manifests'
   `workflowDefaults.spec.ttlStrategy` deletes a finished workflow (pods included) after an
   hour (`manifests/kustomize/third-party/argo/base/workflow-controller-configmap-patch.yaml`).
2. **The KFP UI's pod-log route**, what the UI itself calls (`frontend/src/lib/Apis.ts`
   `getPodLogs`): `GET <ui>/k8s/pod/logs?podname=&runid=&podnamespace=&createdat=YYYY-MM-DD`
   (`frontend/server/app.ts`, also under the base path `/pipeline`;
   `frontend/server/handlers/pod-logs.ts`). The UI reads the pod through its own service
   account, so it helps users without Kubernetes access. It is on the host `kfp.Client` uses
   when that host goes through the UI (a port-forward of `ml-pipeline-ui`, or
   `https://<kubeflow>/pipeline`); `kubeflow.uiHost` / `KF_PIPELINES_UI_ENDPOINT` name it
   otherwise. Credentials go only to the host's own origin.
3. **The archive** Argo writes when a pod ends (`archiveLogs: true` in the same ConfigMap):
   `<bucket>/<keyFormat>/main.log` (argo-workflows v4.0.5 `workflow/executor/executor.go`
   `saveContainerLogs`), read with the caller's S3 settings. The 2.17 manifests' key format
   is `private-artifacts/{{workflow.namespace}}/{{workflow.name}}/{{workflow.creationTimestamp.Y}}/
   {{workflow.creationTimestamp.m}}/{{workflow.creationTimestamp.d}}/{{pod.name}}` in bucket
   `mlpipeline` (`kubeflow.logArchive` changes it). The stock UI looks for archives under
   `configs.ts`' default `ARGO_KEYFORMAT` (`artifacts/{{workflow.name}}/...`), which the
   manifests do not override, so after the pods are gone only this source finds them.

A source that cannot give the log raises `SourceError` with a reason for the user.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import UnipKfpError, UsageError
from ..s3 import S3, Location
from .connection import Connection

CONTAINER = "main"
ARCHIVE = ("minio://mlpipeline/private-artifacts/{{workflow.namespace}}/{{workflow.name}}/"
           "{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}/"
           "{{workflow.creationTimestamp.d}}/{{pod.name}}")
TIMEOUT = 10.0


class SourceError(Exception):
    """A source did not give the log; `missing` when it answered that it has none."""

    def __init__(self, reason: str, *, missing: bool = False):
        super().__init__(reason)
        self.missing = missing


@dataclass(frozen=True)
class PodRef:
    """One pod whose main container's log is wanted."""

    pod: str
    namespace: str
    workflow: str
    run_id: str
    created: datetime | None


def tail_lines(text: str, tail: int | None) -> str:
    """The last `tail` lines of `text` (all when None)."""
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail > 0 else ""


class Kubernetes:
    """The pod's log through the Kubernetes API (kubeconfig, or in a pod its service account)."""

    def __init__(self, timeout: float = TIMEOUT):
        from .kube import Kube

        self.kube = Kube.connect(timeout)
        self.name = f"the Kubernetes API ({self.kube.source})" if self.kube else (
            "the Kubernetes API")

    def read(self, ref: PodRef, tail: int | None) -> str:
        response = self._call(ref, tail_lines=tail, _preload_content=False)
        try:
            return bytes(response.data).decode("utf-8", "replace")
        finally:
            response.release_conn()

    def stream(self, ref: PodRef) -> Iterator[str]:
        """The log as it is written, until the container ends (`follow`)."""
        response = self._call(ref, follow=True, _preload_content=False)
        read = getattr(response, "read1", None) or (lambda size: response.read(1))
        try:
            while True:
                chunk = read(65536)
                if not chunk:
                    return
                yield bytes(chunk).decode("utf-8", "replace")
        finally:
            response.release_conn()

    def _call(self, ref: PodRef, **options: Any) -> Any:
        if self.kube is None:
            raise SourceError("no access (no kubeconfig: KUBECONFIG or ~/.kube/config; not in "
                              "a pod)")
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return self.kube.api.read_namespaced_pod_log(
                ref.pod, ref.namespace, container=CONTAINER,
                _request_timeout=None if options.get("follow") else self.kube.timeout, **options)
        except ApiException as exc:
            raise _kube_error(exc, ref) from None
        except (HTTPError, OSError) as exc:
            raise SourceError(f"cannot reach it: {exc}") from None


def _kube_error(exc: Any, ref: PodRef) -> SourceError:
    import json

    try:
        message = str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        message = str(exc.reason)
    if exc.status == 404:
        return SourceError(f"pod {ref.pod} is not in namespace {ref.namespace} (deleted with "
                           "its workflow, an hour after the run ended?)", missing=True)
    if exc.status == 400 and "waiting to start" in message:
        return SourceError(f"its container has not started ({message})", missing=True)
    if exc.status in (401, 403):
        return SourceError(f"refused ({exc.status}: {message})")
    return SourceError(f"failed ({exc.status}: {message})")


class KubeflowUi:
    """The pod's log through the KFP UI server's `/k8s/pod/logs` route."""

    def __init__(self, connection: Connection, ui_host: str | None, timeout: float = TIMEOUT):
        self.connection = connection
        self.base = (ui_host or connection.host).rstrip("/")
        self.timeout = timeout
        self.name = f"the Kubeflow Pipelines UI ({self.base}/k8s/pod/logs)"

    def read(self, ref: PodRef, tail: int | None) -> str:
        query = {"podname": ref.pod, "runid": ref.run_id, "podnamespace": ref.namespace}
        if ref.created is not None:
            query["createdat"] = ref.created.astimezone(timezone.utc).strftime("%Y-%m-%d")
        url = f"{self.base}/k8s/pod/logs?{urllib.parse.urlencode(query)}"
        status, kind, body = self._get(url)
        text = body.decode("utf-8", "replace")
        if status == 200 and "html" in kind:
            raise SourceError("it answered with a web page, not a log (a login page?)")
        if status == 200:
            return tail_lines(text, tail)
        first = text.strip().splitlines()[0][:200] if text.strip() else "no message"
        if status == 404:
            raise SourceError(f"{self.base} has no /k8s/pod/logs (404): it is the API server, "
                              "not the UI; set kubeflow.uiHost (or KF_PIPELINES_UI_ENDPOINT) "
                              "to the UI", missing=True)
        if status in (401, 403):
            raise SourceError(f"refused ({status}: {first})")
        raise SourceError(f"the UI could not read it ({status}: {first})", missing=status == 500)

    def _get(self, url: str) -> tuple[int, str, bytes]:
        """A GET through kfp's own HTTP client: its CA, and our credentials on our origin."""
        from kfp_server_api.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        api = self.connection.client._run_api.api_client
        headers: dict[str, str] = {"Accept": "text/plain, */*"}
        if _origin(url) == _origin(self.connection.host):
            api.update_params_for_auth(headers, [], ["Bearer"])
            headers.update(api.default_headers)
            if api.cookie:
                headers["Cookie"] = api.cookie
        try:
            answer = api.request("GET", url, headers=headers, _preload_content=False,
                                 _request_timeout=self.timeout)
        except ApiException as exc:
            if not exc.status:  # kfp's client turns TLS failures into status 0
                raise SourceError(f"cannot reach it: {exc.reason}") from None
            body = exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
            kind = str((exc.headers or {}).get("Content-Type", ""))
            return int(exc.status), kind, body
        except (HTTPError, OSError) as exc:
            raise SourceError(f"cannot reach it: {exc}") from None
        return int(answer.status), str(answer.headers.get("Content-Type") or ""), bytes(answer.data)


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


class Archive:
    """The log Argo archived in the artifact store, read with the caller's S3 settings."""

    def __init__(self, storage: Callable[[], S3], template: str | None = None):
        self.storage = storage
        self.template = template or ARCHIVE
        self.name = "the log archive (" + self.template.split("/{{")[0] + "/...)"

    def locations(self, ref: PodRef) -> list[Location]:
        """Where the log may be: the run's creation day (and the next, near midnight)."""
        days = [ref.created or datetime.now(timezone.utc)]
        if ref.created is not None:
            days.append(ref.created + timedelta(minutes=2))
        found: list[Location] = []
        for day in days:
            location = Location.parse(self._key(ref, day.astimezone(timezone.utc)))
            if location not in found:
                found.append(location)
        return found

    def _key(self, ref: PodRef, day: datetime) -> str:
        values = {"workflow.namespace": ref.namespace, "workflow.name": ref.workflow,
                  "workflow.creationTimestamp.Y": f"{day:%Y}",
                  "workflow.creationTimestamp.m": f"{day:%m}",
                  "workflow.creationTimestamp.d": f"{day:%d}", "pod.name": ref.pod}
        key = self.template
        for name, value in values.items():
            key = key.replace("{{" + name + "}}", value)
        if "{{" in key or "}}" in key:
            raise UsageError(f"kubeflow.logArchive {self.template}: unknown placeholder (known: "
                             + ", ".join("{{" + n + "}}" for n in values) + ")")
        return key.rstrip("/") + "/main.log"

    def read(self, ref: PodRef, tail: int | None) -> str:
        try:
            storage = self.storage()
            _ = storage.client  # endpoint and keys, or why not
        except UnipKfpError as exc:
            raise SourceError(str(exc).split("\n")[0]) from None
        tried = []
        for location in self.locations(ref):
            text = self._get(storage, location)
            if text is not None:
                return tail_lines(text, tail)
            tried.append(location.uri)
        raise SourceError(f"no archived log at {' or '.join(tried)}", missing=True)

    @staticmethod
    def _get(storage: S3, location: Location) -> str | None:
        from minio.error import S3Error

        try:
            with storage.errors(f"reading {location.uri}"):
                try:
                    response = storage.client.get_object(location.bucket, location.key)
                except S3Error as exc:
                    if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                        return None
                    raise
                try:
                    return bytes(response.read()).decode("utf-8", "replace")
                finally:
                    response.close()
                    response.release_conn()
        except UnipKfpError as exc:
            raise SourceError(str(exc).replace("\n    hint:", "; hint:")) from None

"""The KFP UI's pod-log route and the pods of fake runs, for the fake KFP server.

The host ``kfp.Client`` talks to is often the UI (``kubectl port-forward svc/ml-pipeline-ui``,
or ``https://<kubeflow>/pipeline`` on the platform): the UI server proxies ``/apis/v2beta1``
to the API server and serves its own routes. KFP 2.17.0's ``frontend/server/app.ts``
registers ``GET /k8s/pod/logs`` (and ``<basePath>/k8s/pod/logs``, basePath ``/pipeline`` from
``configs.ts``) with ``handlers/pod-logs.ts`` ``getPodLogsHandler``; the UI calls it as
``k8s/pod/logs?podname=&runid=&podnamespace=&createdat=YYYY-MM-DD``
(``frontend/src/lib/Apis.ts`` ``getPodLogs``). The handler:

* answers 400 ``podname argument is required`` without ``podname``, and 422
  ``podnamespace argument is required`` without ``podnamespace`` when auth is on
  (multi-user);
* reads the pod's ``main`` container through the Kubernetes API
  (``workflow-helper.ts`` ``getPodLogsStreamFromK8s``: the whole log, no tail);
* else reads the archive: first from the workflow's status (gone with the workflow), then,
  with ``ARGO_ARCHIVE_LOGS=true``, from bucket ``ARGO_ARCHIVE_BUCKETNAME`` (``mlpipeline``) at
  ``ARGO_KEYFORMAT`` + ``/main.log`` (``createPodLogsMinioRequestConfig``; the workflow name is
  the pod name up to ``-system-container-impl-``). ``configs.ts``' default key format is
  ``artifacts/{{workflow.name}}/{{Y}}/{{m}}/{{d}}/{{pod.name}}``, and the 2.17 manifests set
  no ``ARGO_KEYFORMAT``: but Argo archives under ``private-artifacts/<namespace>/...``
  (``workflow-controller-configmap-patch.yaml``), so once the pods are gone the stock UI
  looks in the wrong place;
* else 500 ``Could not get main container logs: <error>`` (plain text, like every answer).

A host that is the API server itself (``ml-pipeline:8888``) has no such route: ``ui=False``
answers grpc-gateway's 404.

The pods of every run are kept in a ``kfp_fake_pods.PodStore`` shared with the Kubernetes
API test server: a pod appears when its Argo node runs (waiting while Pending) and its main
container ends with the node. Its log is ``stage_logs[<stage name or key>]`` or a default.
``delete_workflow`` removes a run's workflow and pods (TTL, or a cascading delete).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .kfp_fake_errors import ApiError
from .kfp_fake_http import RecordedRequest
from .kfp_fake_pods import ARCHIVE_BUCKET, PodStore, archive_key
from .kfp_fake_runs import RunRecord

UI_KEY_FORMAT = "artifacts/{workflow}/{Y}/{m}/{d}/{pod}/main.log"  # configs.ts ARGO_KEYFORMAT
_TERMINAL = {"SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "OMITTED"}


@dataclass
class Raw:
    """An answer that is not JSON: the UI's plain-text routes."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class UiRoutes:
    """The UI's pod-log route and the runs' pods; the server provides the stores."""

    multi_user: bool
    runs: dict[str, RunRecord]
    experiments: dict[str, dict[str, Any]]
    pods: PodStore
    ui: bool
    stage_logs: dict[str, str]
    ui_archive: Callable[[str, str], bytes] | None
    ui_key_format: str

    def run_namespace(self, record: RunRecord) -> str:
        """Where a run's pods are: its profile namespace, else the server's (``kubeflow``)."""
        namespace = self.experiments.get(record.json["experiment_id"], {}).get("namespace")
        return str(namespace or "kubeflow")

    def sync_pods(self, record: RunRecord) -> None:
        """Pods appear when their node runs and end with it (never restarted)."""
        if record.workflow_deleted:
            return
        namespace = self.run_namespace(record)
        for node_name, pod in record.workflow.pod_names().items():
            phase = record.workflow.phases.get(node_name, "")
            current = self.pods.get(namespace, pod)
            if current is None:
                text = self.pod_log_text(record, node_name)
                self.pods.put(namespace, pod, text, running=phase == "RUNNING",
                              waiting=phase == "PENDING")
            elif phase in _TERMINAL and (current.running or current.waiting):
                final = self.pod_log_text(record, node_name)  # what it wrote up to its end
                if final.startswith(current.logs["main"]):
                    self.pods.append(namespace, pod, final[len(current.logs["main"]):])
                self.pods.finish(namespace, pod)
            elif phase == "RUNNING" and current.waiting:
                self.pods.update(namespace, pod, waiting=False, running=True)

    def pod_log_text(self, record: RunRecord, node_name: str) -> str:
        """A pod's log: the test's for the stage, else a few lines saying what ran."""
        node = record.workflow.nodes[node_name]
        if node.role != "executor":
            return f"{node.display}: {node.template} of {record.workflow.name}\n"
        names = [n for n, k in record.workflow.stage_of.items() if k == node.stage]
        for name in names:
            if name in self.stage_logs:
                return self.stage_logs[name]
        text = "".join(f"{node.stage}: step {i} of 3\n" for i in (1, 2, 3))
        if record.workflow.phases.get(node_name) in ("FAILED", "ERROR"):
            text += ('Traceback (most recent call last):\n  File "/app/run.py", line 3, in '
                     f"<module>\nValueError: {node.stage} failed\n")
        return text

    def delete_workflow(self, run_id: str) -> list[str]:
        """The run's workflow and its pods are deleted; the run is never reported again."""
        record = self.runs[run_id]
        namespace = self.run_namespace(record)
        record.workflow_deleted = True
        gone = []
        for pod in record.workflow.pod_names().values():
            if self.pods.get(namespace, pod) is not None:
                self.pods.delete(namespace, pod)
                gone.append(pod)
        return gone

    def archive_run_logs(self, run_id: str, minio: Any, *, key_format: str | None = None
                         ) -> dict[str, str]:
        """What Argo archived of the run's pods (``archiveLogs``): pod -> object key."""
        from .kfp_fake_pods import archive_log

        record = self.runs[run_id]
        namespace = self.run_namespace(record)
        written = {}
        for pod in record.workflow.pod_names().values():
            current = self.pods.get(namespace, pod)
            if current is None:
                continue
            key = archive_key(namespace, record.workflow.name, record.json["created_at"], pod,
                              **({"key_format": key_format} if key_format else {}))
            archive_log(minio, key, current.logs["main"])
            written[pod] = key
        return written

    def _get_run(self, request: RecordedRequest, run_id: str) -> dict[str, Any]:
        """A report of the run (``Routes._get_run``), then its pods follow their nodes."""
        answer: dict[str, Any] = super()._get_run(request, run_id)  # type: ignore[misc]
        self.sync_pods(self.runs[run_id])
        return answer

    # ---- the app's page (frontend/server/app.ts)

    def _ui_index(self, request: RecordedRequest) -> Raw:
        """``app.ts`` ``registerHandler(app.get, '/', indexHtmlHandler)``: the UI serves its
        index.html at ``/`` and ``<basePath>/``. The API server's mux registers no ``/``
        (``backend/src/apiserver/main.go``): gorilla mux answers 404 "404 page not found"."""
        if not self.ui:
            return Raw(404, "404 page not found\n")
        return Raw(200, '<!doctype html><html><head><title>Kubeflow Pipelines</title></head>'
                   '<body><div id="root"></div></body></html>', "text/html; charset=utf-8")

    # ---- the route (frontend/server/handlers/pod-logs.ts)

    def _ui_pod_logs(self, request: RecordedRequest) -> Raw:
        if not self.ui:
            raise ApiError(5, "Not Found")
        q = request.query
        pod = q.get("podname", "")
        if not pod:
            return Raw(400, "podname argument is required")
        namespace = q.get("podnamespace") or ""
        if self.multi_user and not namespace:
            return Raw(422, "podnamespace argument is required")
        found = self.pods.get(namespace or "kubeflow", pod)
        if found is not None and not found.waiting:
            return Raw(200, found.logs["main"])
        workflow = re.sub(r"-system-container-impl-.*", "", pod)
        error = f"Error: Unable to retrieve workflow status: {workflow} not found."
        if self.ui_archive is not None and q.get("createdat"):
            key = archive_key(namespace, workflow, q["createdat"], pod, self.ui_key_format)
            try:
                return Raw(200, self.ui_archive(ARCHIVE_BUCKET, key).decode())
            except Exception as exc:  # the minio client's error, as the UI shows it
                error = f"S3Error: {getattr(exc, 'code', type(exc).__name__)}: {key}"
        return Raw(500, f"Could not get main container logs: {error}")

"""The pods of fake KFP runs and their logs, shared by the Kubernetes and KFP test servers.

A real cluster has one truth about a pod's log, which three readers see differently; the
test servers share this store so that every reader sees the same pods:

* the Kubernetes API (``k8s_api_server.py``, ``GET .../pods/{name}/log``), while the pod
  exists;
* the KFP UI's ``/k8s/pod/logs`` route (``kfp_api_server.py``), which asks the Kubernetes API
  and then the archive (``frontend/server/handlers/pod-logs.ts``);
* the archive Argo writes when a pod ends, ``archive_log`` here: with
  ``artifactRepository.archiveLogs: true`` (KFP 2.17's
  ``manifests/kustomize/third-party/argo/base/workflow-controller-configmap-patch.yaml``)
  Argo's executor saves each main container's log as ``<keyFormat>/main.log``
  (argo-workflows v4.0.5 ``workflow/executor/executor.go`` ``saveContainerLogs``: file
  ``<container>.log`` under the resolved ``keyFormat``), in bucket ``mlpipeline`` with
  ``private-artifacts/{{workflow.namespace}}/{{workflow.name}}/{{workflow.creationTimestamp.Y}}/
  {{workflow.creationTimestamp.m}}/{{workflow.creationTimestamp.d}}/{{pod.name}}``.

Pods go away with their workflow: KFP 2.17 sets no pod GC, and the manifests'
``workflowDefaults.spec.ttlStrategy`` deletes a finished workflow, its pods with it, after an
hour (``delete`` here).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

ARCHIVE_BUCKET = "mlpipeline"
ARCHIVE_KEY = ("private-artifacts/{namespace}/{workflow}/{Y}/{m}/{d}/{pod}/main.log")


@dataclass
class FakePod:
    """One pod: its containers' logs, and whether its main container runs or waits."""

    namespace: str
    name: str
    logs: dict[str, str] = field(default_factory=lambda: {"main": "", "wait": ""})
    running: bool = False
    waiting: bool = False


class PodStore:
    """Pods by (namespace, name); readers may wait for a running pod's next lines."""

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], FakePod] = {}
        self._changed = threading.Condition()

    def put(self, namespace: str, name: str, text: str = "", *, running: bool = False,
            waiting: bool = False) -> FakePod:
        """A pod whose main container logged `text` (replacing one of that name)."""
        pod = FakePod(namespace, name, {"main": text, "wait": ""}, running, waiting)
        with self._changed:
            self._pods[(namespace, name)] = pod
            self._changed.notify_all()
        return pod

    def get(self, namespace: str, name: str) -> FakePod | None:
        with self._changed:
            return self._pods.get((namespace, name))

    def names(self, namespace: str | None = None) -> list[str]:
        with self._changed:
            return sorted(n for ns, n in self._pods if namespace in (None, ns))

    def append(self, namespace: str, name: str, text: str) -> None:
        """The running main container writes more."""
        with self._changed:
            pod = self._pods[(namespace, name)]
            pod.logs["main"] += text
            pod.waiting = False
            self._changed.notify_all()

    def update(self, namespace: str, name: str, **changes: Any) -> None:
        with self._changed:
            pod = self._pods.get((namespace, name))
            if pod is not None:
                for key, value in changes.items():
                    setattr(pod, key, value)
                self._changed.notify_all()

    def finish(self, namespace: str, name: str) -> None:
        """The main container ended: followers get the rest and the stream closes."""
        self.update(namespace, name, running=False, waiting=False)

    def delete(self, namespace: str, name: str) -> None:
        with self._changed:
            self._pods.pop((namespace, name), None)
            self._changed.notify_all()

    def wait_change(self, timeout: float) -> None:
        """Block until something changes (or `timeout` seconds)."""
        with self._changed:
            self._changed.wait(timeout)


def archive_key(namespace: str, workflow: str, created: str, pod: str,
                key_format: str = ARCHIVE_KEY) -> str:
    """Where Argo archives a pod's main log; `created` is the workflow's UTC date or time."""
    year, month, day = created[:10].split("-")
    return key_format.format(namespace=namespace, workflow=workflow, Y=year, m=month, d=day,
                             pod=pod)


def archive_log(minio: Any, key: str, text: str, bucket: str = ARCHIVE_BUCKET) -> None:
    """Write `text` as Argo's executor does: one plain `main.log` object."""
    data = text.encode()
    if not minio.bucket_exists(bucket):
        minio.make_bucket(bucket)
    minio.put_object(bucket, key, io.BytesIO(data), len(data), content_type="text/plain")

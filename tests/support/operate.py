"""Fixtures for the tests of what follows a submission: logs, schedules, run history.

`cluster` starts the fake KFP API (the UI's pod-log route on the same host) and the
Kubernetes API test server, sharing one `PodStore`: a pod the KFP fake starts for a run is
the pod the Kubernetes API serves. Both are real HTTP servers on 127.0.0.1, driven by the
unmodified `kfp.Client` and `kubernetes` client. The fixtures `cluster` and `kubeconfig`
are in `tests/conftest.py`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import unip_kfp
from unip_kfp.errors import RunFailedError
from unip_kfp.kubeflow.handle import RunHandle
from unip_kfp.kubeflow.submission import submit

from .k8s_api_server import K8sApiServer
from .kfp_fake_pods import PodStore
from .kubeflow_env import HookedKfpServer

URIS = {"xy_train": "s3://b/t.csv", "xy_test": "s3://b/v.csv"}
URI_ARGS = ("-i", "xy_train=s3://b/t.csv", "-i", "xy_test=s3://b/v.csv")


@dataclass
class Cluster:
    """The test servers of one cluster: KFP (API and UI) and Kubernetes, one pod store."""

    kfp: HookedKfpServer
    k8s: K8sApiServer
    pods: PodStore


def finished_run(kfp: HookedKfpServer, module: Path, **options: Any) -> RunHandle:
    """Submit the example and wait for its end (a failure is fine: its logs are the point)."""
    project = unip_kfp.load(str(module / "manifests"))
    handle = submit(project, host=kfp.url, inputs=URIS, echo=lambda line: None, **options)
    with contextlib.suppress(RunFailedError):
        handle.wait(echo=lambda line: None)
    return handle


def log_requests(kfp: HookedKfpServer) -> list[Any]:
    """The requests the UI's pod-log route answered."""
    return [r for r in kfp.requests if r.path.endswith("/k8s/pod/logs")]


def pod_log_requests(k8s: K8sApiServer) -> list[str]:
    return [p for p in k8s.requests if "/log" in p.split("?")[0]]

"""The links unip-kfp prints: the Kubeflow Pipelines UI's pages, where the UI is known.

The API and the UI are often one address: the UI server (`ml-pipeline-ui`; `kubectl
port-forward svc/ml-pipeline-ui 8080:80`, or `https://<kubeflow>/pipeline` on the platform)
proxies `/apis/v2beta1` to the API server. But the API server can be reached on its own
(`kubectl port-forward svc/ml-pipeline 8888:8888`, or in a pod the in-cluster
`ml-pipeline.kubeflow.svc.cluster.local:8888`), and it serves no UI. So the UI's address is:
1. `kubeflow.uiHost` in unip-kfp.yaml, else `KF_PIPELINES_UI_ENDPOINT` (kfp's variable);
2. else the host, when it serves the UI: the UI answers `/` with its index.html
   (`frontend/server/app.ts`, `registerHandler(app.get, '/', indexHtmlHandler)`), while the
   API server registers no `/` (`backend/src/apiserver/main.go`) and answers 404;
3. else none: links point at the API's own answer for the object (JSON), and `hint` says
   what to set.
UI pages are `#/runs/details/<id>`, `#/experiments/details/<id>` and
`#/pipelines/details/<id>/version/<id>` (`frontend/src/lib/RoutePrefix`/`Page` routes).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol


class Connection(Protocol):
    """What a link needs of a `connection.Connection`: the host, and the UI's address (or
    how to find it out once). A protocol, so that `connection.py` can use this module."""

    host: str
    ui_host: str | Callable[[], str]

API_PREFIX = "/apis/v2beta1"


def ui_host(configured: str | None, host: str, headers: Callable[[], dict[str, str]],
            timeout: float, ca_cert: str | None) -> str | Callable[[], str]:
    """The UI's address as configured (`kubeflow.uiHost`, `KF_PIPELINES_UI_ENDPOINT`), else
    how to find out whether the host is the UI: asked when a link is first made (most
    commands make none), then `ui_address` keeps the answer."""
    ui = configured or os.environ.get("KF_PIPELINES_UI_ENDPOINT")
    if ui:
        return ui.rstrip("/")
    return lambda: host.rstrip("/") if serves_ui(host, headers(), timeout, ca_cert) else ""


def ui_address(connection: Connection) -> str | None:
    """The UI's address, or None when the host is the API server itself."""
    if callable(connection.ui_host):
        connection.ui_host = connection.ui_host()
    return connection.ui_host or None


def hint(connection: Connection) -> str | None:
    """What to set for UI links when the host is the API server itself, else None."""
    if ui_address(connection) is not None:
        return None
    return (f"{connection.host} is the Kubeflow Pipelines API server, not its UI: these links "
            "are the API's; for UI links set kubeflow.uiHost in unip-kfp.yaml or "
            "KF_PIPELINES_UI_ENDPOINT to the UI's address (e.g. http://localhost:8080 after "
            "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80)")


def run_url(connection: Connection, run_id: str) -> str:
    ui = ui_address(connection)
    return f"{ui}/#/runs/details/{run_id}" if ui else f"{connection.host}{API_PREFIX}/runs/{run_id}"


def experiment_url(connection: Connection, experiment_id: str) -> str:
    ui = ui_address(connection)
    if ui is None:
        return f"{connection.host}{API_PREFIX}/experiments/{experiment_id}"
    return f"{ui}/#/experiments/details/{experiment_id}"


def pipeline_url(connection: Connection, pipeline_id: str, version_id: str | None = None) -> str:
    ui = ui_address(connection)
    if ui is None:
        url = f"{connection.host}{API_PREFIX}/pipelines/{pipeline_id}"
        return f"{url}/versions/{version_id}" if version_id else url
    url = f"{ui}/#/pipelines/details/{pipeline_id}"
    return f"{url}/version/{version_id}" if version_id else url


def serves_ui(host: str, headers: dict[str, str], timeout: float,
              ca_cert: str | None = None) -> bool:
    """Whether `host` answers `/` as the UI does (an HTML page); unsure means yes, so that
    links keep the host as before."""
    from .access import ssl_context
    request = urllib.request.Request(host + "/", headers={"Accept": "text/html",
                                                          **headers})
    opener = urllib.request.build_opener(  # no proxies from the environment, as kfp.Client
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context(ca_cert))
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return "html" in (response.headers.get("Content-Type") or "")
    except urllib.error.HTTPError as exc:
        return exc.code != 404
    except (urllib.error.URLError, OSError, ValueError):
        return True

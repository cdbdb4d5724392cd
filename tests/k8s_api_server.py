"""A small Kubernetes API server for tests: ConfigMaps and Secrets of namespaces, over HTTP.

It answers the two reads unip-kfp makes (`GET /api/v1/namespaces/{ns}/configmaps/{name}` and
`.../secrets/{name}`) as the API server does: the object as JSON, or a `Status` object with
the HTTP code (404 NotFound, 403 Forbidden). `kubeconfig()` writes a kubeconfig for the
real `kubernetes` client, with a bearer token the server checks.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

TOKEN = "k8s-test-token"
_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/(configmaps|secrets)/([^/?]+)$")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A `metav1.Status` failure, as the API server writes it."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class K8sApiServer:
    """Objects by (namespace, kind, name); `forbidden` namespaces answer 403 to everything."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.forbidden: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                code, body = outer._get(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True

    def __enter__(self) -> K8sApiServer:
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def put(self, obj: dict[str, Any]) -> None:
        kind = {"ConfigMap": "configmaps", "Secret": "secrets"}[obj["kind"]]
        meta = obj["metadata"]
        self.objects[(meta["namespace"], kind, meta["name"])] = obj

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": TOKEN}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test",
                                                       "namespace": namespace}}],
        }))
        return path

    def _get(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        self.requests.append(path)
        if authorization != f"Bearer {TOKEN}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        match = _PATH.match(path.split("?")[0])
        if not match:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        namespace, kind, name = match.groups()
        if namespace in self.forbidden:
            return 403, status(403, "Forbidden", f'{kind} "{name}" is forbidden: User '
                               f'"system:serviceaccount:test:default" cannot get resource '
                               f'"{kind}" in API group "" in the namespace "{namespace}"')
        obj = self.objects.get((namespace, kind, name))
        if obj is None:
            return 404, status(404, "NotFound", f'{kind} "{name}" not found')
        return 200, obj

"""A small Kubernetes API server for tests: ConfigMaps and Secrets of namespaces, over HTTP.

It answers the reads unip-kfp makes (`GET /api/v1/namespaces/{ns}/configmaps/{name}` and
`.../secrets/{name}`) as the API server does: the object as JSON, or a `Status` object with
the HTTP code (404 NotFound, 403 Forbidden). `kubeconfig()` writes a kubeconfig for the
real `kubernetes` client, with a bearer token the server checks.

Pod logs (`GET .../pods/{name}/log?container=&tailLines=&follow=`) come from a shared
`kfp_fake_pods.PodStore`, answered as the kubelet's log endpoint does: plain text, the last
`tailLines` lines, and with `follow=true` a stream that ends when the container does; a
missing pod is 404 `pods "x" not found`, a container that has not started 400 `container
"main" in pod "x" is waiting to start: ContainerCreating`, an unknown container 400
`container x is not valid for pod y`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import yaml

from .kfp_fake_pods import PodStore
from .loopback import LoopbackServer

TOKEN = "k8s-test-token"
_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/(configmaps|secrets)/([^/?]+)$")
_LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/?]+)/log$")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A `metav1.Status` failure, as the API server writes it."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class K8sApiServer(LoopbackServer):
    """Objects by (namespace, kind, name); `forbidden` namespaces answer 403 to everything."""

    def __init__(self, pods: PodStore | None = None) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pods = pods if pods is not None else PodStore()
        self.forbidden: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if _LOG.match(self.path.split("?")[0]):
                    outer._pod_log(self)
                    return
                code, body = outer._get(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)

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

    def _pod_log(self, handler: BaseHTTPRequestHandler) -> None:
        """A pod's log as the API server relays the kubelet's: text, or a `Status`."""
        path, _, query = handler.path.partition("?")
        self.requests.append(handler.path)
        params = dict(urllib.parse.parse_qsl(query))
        match = _LOG.match(path)
        assert match is not None  # do_GET routes only matching paths here
        namespace, name = match.groups()
        failure = self._log_refusal(handler.headers.get("Authorization", ""), namespace, name,
                                    params.get("container", "main"))
        if failure is not None:
            data = json.dumps(failure).encode()
            handler.send_response(failure["code"])
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()  # no length: HTTP/1.0, the body ends when the connection does
        tail = int(params["tailLines"]) if params.get("tailLines") else None
        self._stream(handler, namespace, name, tail, params.get("follow", "").lower() == "true")

    def _log_refusal(self, authorization: str, namespace: str, name: str, container: str
                     ) -> dict[str, Any] | None:
        if authorization != f"Bearer {TOKEN}":
            return status(401, "Unauthorized", "Unauthorized")
        if namespace in self.forbidden:
            return status(403, "Forbidden", f'pods "{name}" is forbidden: User '
                          f'"system:serviceaccount:test:default" cannot get resource '
                          f'"pods/log" in API group "" in the namespace "{namespace}"')
        pod = self.pods.get(namespace, name)
        if pod is None:
            return status(404, "NotFound", f'pods "{name}" not found')
        if container not in pod.logs:
            return status(400, "BadRequest", f"container {container} is not valid for pod {name}")
        if pod.waiting:
            return status(400, "BadRequest", f'container "{container}" in pod "{name}" is '
                          "waiting to start: ContainerCreating")
        return None

    def _stream(self, handler: BaseHTTPRequestHandler, namespace: str, name: str,
                tail: int | None, follow: bool) -> None:
        sent = 0
        while True:
            pod = self.pods.get(namespace, name)
            text = pod.logs["main"] if pod is not None else ""
            if sent == 0 and tail is not None:
                lines = text.splitlines(keepends=True)
                sent = len(text) - len("".join(lines[-tail:] if tail else []))
            if len(text) > sent:
                try:
                    handler.wfile.write(text[sent:].encode())
                    handler.wfile.flush()
                except OSError:
                    return
                sent = len(text)
            if not follow or pod is None or not pod.running:
                return
            self.pods.wait_change(0.05)

"""Read-only access to the Kubernetes API of a namespace: `kfp-launcher` and Secret keys.

Used by `doctor` (the namespace objects row) and `cluster-config` (the current
`kfp-launcher`, to emit a merged object). Access comes from the usual places, in
the `kubernetes` client's order: `KUBECONFIG` / `~/.kube/config` (current context), else
the pod's service account. Without either, `connect` returns None and callers say "no
Kubernetes API access" (doctor shows "–" and its exit code is unaffected).

Only names and keys are ever read out of a Secret; its values are dropped at once and never
printed or kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import UnreachableError

LAUNCHER_CONFIGMAP = "kfp-launcher"


class KubeError(UnreachableError):
    """The Kubernetes API refused or failed a read (exit 5 where it matters)."""


@dataclass
class Kube:
    """A `kubernetes` CoreV1 client with a short timeout, and where its access came from."""

    api: Any
    source: str
    timeout: float

    @classmethod
    def connect(cls, timeout: float = 3.0) -> Kube | None:
        """Access from kubeconfig or the pod's service account; None without either."""
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError:  # pragma: no cover - kubernetes is a dependency of kfp
            return None
        configuration = client.Configuration()
        path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        try:
            if any(os.path.isfile(p) for p in path.split(os.pathsep)):
                # Explicitly: the client reads KUBECONFIG only once, when it is imported.
                config.load_kube_config(config_file=path, client_configuration=configuration)
                source = f"kubeconfig {path}"
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=configuration)
                source = "the pod's service account"
            else:
                return None
        except (ConfigException, OSError, ValueError, TypeError):
            return None
        configuration.retries = False
        return cls(client.CoreV1Api(client.ApiClient(configuration)), source, timeout)

    def config_map(self, namespace: str, name: str = LAUNCHER_CONFIGMAP) -> dict[str, Any] | None:
        """The ConfigMap as plain data (None when it does not exist)."""
        return self._read("read_namespaced_config_map", namespace, name, f"ConfigMap {name}")

    def secret_keys(self, namespace: str, name: str) -> set[str] | None:
        """The keys of a Secret (None when it does not exist); values are never kept."""
        secret = self._read("read_namespaced_secret", namespace, name, f"Secret {name}")
        if secret is None:
            return None
        return set(secret.get("data") or {}) | set(secret.get("stringData") or {})

    def _read(self, method: str, namespace: str, name: str, what: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            obj = getattr(self.api, method)(name, namespace, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            reason = "forbidden" if exc.status == 403 else f"{exc.status} {exc.reason}"
            raise KubeError(
                f"Kubernetes ({self.source}) refused reading {what} in namespace "
                f"'{namespace}': {reason}"
            ) from None
        except (HTTPError, OSError) as exc:
            raise KubeError(f"cannot reach Kubernetes ({self.source}): {exc}") from None
        data: dict[str, Any] = self.api.api_client.sanitize_for_serialization(obj)
        return data

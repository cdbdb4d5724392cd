"""The Kubernetes objects a module needs in its namespace, as YAML for GitOps or kubectl.

Three kinds of documents, in this order:

1. `kfp-launcher` (ConfigMap): per-bucket S3 providers naming the box Secrets, so that the
   launcher reads box data with its own credentials (`kubeflow.credentials: launcher`;
   what KFP 2.17 does with them is in `plan/launcher_credentials.py`). The object usually exists,
   holding the namespace's pipeline root and other modules' providers, and KFP reads one
   `providers` string: so it is emitted **merged** with the current object (read from the
   Kubernetes API, or given with `--current FILE`), every key and provider kept, with the
   current `resourceVersion` so that a concurrent change makes the apply fail. When the
   current object is unknown, the ConfigMap is emitted as comments: applying blindly would
   replace the other modules' providers.
2. Secret templates, as comments: names and keys, never values, so that a blind `kubectl
   apply` cannot empty an existing Secret.
3. With `kubernetes_manifests`: KFP's Kubernetes-native Pipeline and PipelineVersion
   objects (`pipelines.kubeflow.org/v2beta1`, written by kfp's own compiler), named like
   `unip-kfp upload` names versions (`sha256-<12 hex>`, with the content mark).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import UsageError
from ..plan.launcher_credentials import merge_providers, secret_boxes, wanted_providers
from ..plan.model import Box, PipelinePlan
from .kube import LAUNCHER_CONFIGMAP

_DROPPED_METADATA = ("managedFields", "uid", "creationTimestamp", "generation", "selfLink")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class Current:
    """What is known of the live `kfp-launcher`: `known` False means nothing at all."""

    known: bool
    obj: dict[str, Any] | None = None  # None while known: it does not exist
    source: str = ""


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the providers YAML), as kubectl prints them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def commented(text: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in text.splitlines())


def launcher_config_map(
    plans: Sequence[PipelinePlan], namespace: str | None, current: Current,
    endpoint: str | None, region: str | None, root: str | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """The merged `kfp-launcher`, and what changed; None when no box has a Secret."""
    wanted = wanted_providers(secret_boxes(plans), endpoint, region, root)
    if not wanted:
        return None, []
    base = copy.deepcopy(current.obj) if current.obj else {}
    data = dict(base.get("data") or {})
    try:
        providers, changes = merge_providers(data.get("providers"), wanted)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{current.source}: cannot merge into kfp-launcher: {exc}") from None
    data["providers"] = dump(providers)
    metadata = dict(base.get("metadata") or {})
    for key in _DROPPED_METADATA:
        metadata.pop(key, None)
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(_LAST_APPLIED, None)
    metadata.update(name=LAUNCHER_CONFIGMAP, annotations=annotations or None)
    if namespace:
        metadata["namespace"] = namespace
    metadata = {k: v for k, v in metadata.items() if v is not None}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}, changes


def secret_templates(plans: Sequence[PipelinePlan], namespace: str | None) -> str:
    """Commented Secret manifests (names and keys only) for box Secrets and pull secrets."""
    parts = []
    for box in secret_boxes(plans):
        parts.append(_box_secret(box, namespace))
    pulls = sorted({s for plan in plans for s in plan.image_pull_secrets})
    for name in pulls:
        obj = _secret(name, namespace, "kubernetes.io/dockerconfigjson", {".dockerconfigjson": ""})
        parts.append(
            f"Secret {name}: a registry credential of the stage images (imagePullSecrets).\n"
            f"Create it with: kubectl{_ns(namespace)} create secret docker-registry {name} \\\n"
            "    --docker-server=REGISTRY --docker-username=USER --docker-password-stdin\n"
            "or fill in the value below and apply it yourself:\n" + dump(obj)
        )
    return "---\n".join(commented(p) for p in parts)


def _box_secret(box: Box, namespace: str | None) -> str:
    keys = {key: "" for _, key in box.secret_keys}
    assert box.secret
    obj = _secret(box.secret, namespace, "Opaque", keys)
    literals = " ".join(f"--from-literal={key}=..." for key in keys)
    env = ", ".join(f"{key} -> {variable}" for variable, key in box.secret_keys)
    return (
        f"Secret {box.secret}: the S3 keys of box '{box.name}' ({box.uri}); {env}.\n"
        "Values never come from unip-kfp. Create it with:\n"
        f"  kubectl{_ns(namespace)} create secret generic {box.secret} {literals}\n"
        "or fill in the values below and apply it yourself:\n" + dump(obj)
    )


def _secret(name: str, namespace: str | None, kind: str, keys: dict[str, str]) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": kind,
            "stringData": keys}


def _ns(namespace: str | None) -> str:
    return f" -n {namespace}" if namespace else ""


def kubernetes_manifests(
    plan: PipelinePlan, namespace: str | None, *, cache: bool, parallel: bool
) -> list[dict[str, Any]]:
    """Pipeline and PipelineVersion objects for the compiled package, by kfp's compiler."""
    from kfp import compiler

    from ..compile.package import compile_to_bytes
    from ..compile.pipeline import CompileOptions, build_pipeline
    from .versions import content_mark, version_name

    options = CompileOptions(cache=cache, parallel=parallel)
    sha = _sha256(compile_to_bytes(plan, options))
    version = version_name(sha)
    manifest_options = compiler.KubernetesManifestOptions(
        pipeline_name=plan.name,
        pipeline_version_name=f"{plan.name}-{version}",  # pipeline_version_name.go: composite
        pipeline_version_display_name=version,
        namespace=namespace,
        include_pipeline_manifest=True,
    )
    with tempfile.TemporaryDirectory(prefix="unip-kfp-") as folder:
        path = os.path.join(folder, "manifests.yaml")
        compiler.Compiler().compile(
            build_pipeline(plan, options), path, kubernetes_manifest_format=True,
            kubernetes_manifest_options=manifest_options,
        )
        with open(path, encoding="utf-8") as handle:
            documents = [d for d in yaml.safe_load_all(handle) if d]
    for document in documents:
        if document.get("kind") == "PipelineVersion":
            document["spec"]["versionName"] = version
            document["spec"]["description"] = f"{plan.description} {content_mark(sha)}"
    return documents


def _sha256(content: bytes) -> str:
    import hashlib

    return hashlib.sha256(content).hexdigest()


def render(
    plans: Sequence[PipelinePlan], *, namespace: str | None, current: Current,
    credentials: str, endpoint: str | None = None, region: str | None = None,
    root: str | None = None, manifests: Sequence[dict[str, Any]] = (),
) -> tuple[str, list[str]]:
    """The whole YAML stream, and notes for stderr (what changed in kfp-launcher)."""
    names = ", ".join(p.name for p in plans)
    where = f"namespace {namespace}" if namespace else "the namespace kubectl -n chooses"
    documents = [commented(
        f"unip-kfp cluster-config: what {names} needs in {where}.\n"
        "Apply with kubectl apply -f FILE; the Secrets below are templates to fill in."
    )]
    notes: list[str] = []
    config_map, changes = launcher_config_map(plans, namespace, current, endpoint, region, root)
    if credentials != "launcher":
        documents.append(commented(
            "kfp-launcher: not needed. kubeflow.credentials is 'env': stages get the box\n"
            "Secrets as AWS_* variables. With 'launcher' they stay out of the containers\n"
            "and kfp-launcher names them (README: Box credentials)."
        ))
    elif config_map is None:
        documents.append(commented("kfp-launcher: no box has a Secret; nothing to add."))
    elif current.known:
        state = "merged into the current object" if current.obj else "new (none exists yet)"
        documents.append(commented(f"kfp-launcher: {state}, read from {current.source}.")
                         + dump(config_map))
        notes += [f"kfp-launcher: {c}" for c in changes] or ["kfp-launcher: already up to date"]
    else:
        documents.append(commented(
            "kfp-launcher: the current object is unknown (no Kubernetes API access), and\n"
            "applying this one would replace the providers other modules put there. Merge\n"
            "these providers by hand, or fetch the object and run again:\n"
            f"  kubectl{_ns(namespace)} get configmap {LAUNCHER_CONFIGMAP} -o yaml > current.yaml\n"
            "  unip-kfp cluster-config PATH --current current.yaml\n" + dump(config_map)
        ))
        notes.append("kfp-launcher: written as comments (current object unknown; --current FILE)")
    secrets = secret_templates(plans, namespace)
    if secrets:
        documents.append(secrets)
    documents += [dump(m) for m in manifests]
    return "---\n".join(documents), notes

"""Box credentials that KFP's launcher holds: the namespace's `kfp-launcher` providers.

`kubeflow.credentials: launcher` keeps box Secrets out of the stage container's
environment; the `kfp-launcher` ConfigMap names them instead. What KFP 2.17.0 does with
that ConfigMap, read in its source (tag 2.17.0):

* `backend/src/v2/config/env.go`: the key `providers` holds YAML with one entry per scheme
  (`s3`, `minio`, `gs`); `defaultPipelineRoot` is another key, which we never touch.
* `backend/src/v2/config/s3.go` (`minio.go` reuses it): an entry has a `default` and an
  ordered list of `overrides` ({bucketName, keyPrefix, endpoint, region, disableSSL,
  forcePathStyle, maxRetries, credentials: {fromEnv | secretRef: {secretName, accessKeyKey,
  secretKeyKey}}}). The first override whose bucket is the path's bucket and whose
  keyPrefix starts the path's prefix wins; prefixes end with "/"
  (`objectstore/config.go` `ParseBucketPathToConfig`). Overrides need a `default` with
  credentials, else "missing default credentials". Without a `minio` entry, `minio://`
  uses the install's own session (`getDefaultMinioSessionInfo`).
* Who reads the providers: the root DAG driver, for the pipeline root (`driver/root_dag.go`),
  and importers that download into a workspace (`component/importer_launcher.go`). A
  stage's launcher reads an imported artifact **in the pipeline root's bucket** with the
  pipeline root's session, and one in **any other bucket** with the pod's own environment
  (`component/launcher_v2.go` `fetchNonDefaultBuckets`; the importer records
  `fromEnv: true` for every import).

So with `launcher`, a box is read with the launcher's credentials when it lies in the
pipeline root's bucket; a box elsewhere needs an identity of the pod itself (e.g. a cloud
workload identity). Validation warns about those boxes (`checks/credentials.py`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from ..checks.boxes import Place
from ..checks.credentials import DEFAULT_PIPELINE_ROOT, pipeline_root
from .model import Box, PipelinePlan

__all__ = [
    "DEFAULT_PIPELINE_ROOT",
    "Place",
    "box_override",
    "covered",
    "merge_providers",
    "pipeline_root",
    "secret_boxes",
    "wanted_providers",
]

# env.go getDefaultMinioSessionInfo and objectstore/config.go DefaultEndpointInMultiUserMode
# (2.17.0): the session minio:// paths get when kfp-launcher has no `minio` entry.
INSTALL_MINIO_DEFAULT: dict[str, Any] = {
    "endpoint": "seaweedfs.kubeflow:9000",
    "region": "minio",
    "disableSSL": True,
    "credentials": {
        "fromEnv": False,
        "secretRef": {
            "secretName": "mlpipeline-minio-artifact",
            "accessKeyKey": "accesskey",
            "secretKeyKey": "secretkey",
        },
    },
}
# An s3 default that changes nothing: credentials from the pod's environment, as without one.
ENV_S3_DEFAULT: dict[str, Any] = {"credentials": {"fromEnv": True}}


def secret_boxes(plans: Iterable[PipelinePlan]) -> list[Box]:
    """Every configured box with a Secret, once per (URI, Secret), in a stable order."""
    found: dict[tuple[str, str], Box] = {}
    for plan in plans:
        for box in plan.boxes:
            if box.secret:
                found.setdefault((box.uri, box.secret), box)
    return [found[k] for k in sorted(found)]


def box_override(box: Box, endpoint: str | None, region: str | None) -> dict[str, Any]:
    """The provider override that makes the launcher read `box` with its Secret."""
    place = Place.of(box.uri)
    assert place is not None and box.secret
    keys = dict(box.secret_keys)
    override: dict[str, Any] = {"bucketName": place.bucket, "keyPrefix": place.prefix}
    if endpoint:
        parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        override["endpoint"] = parts.netloc
        override["disableSSL"] = parts.scheme == "http"
    if region:
        override["region"] = region
    override["forcePathStyle"] = True
    override["credentials"] = {
        "fromEnv": False,
        "secretRef": {
            "secretName": box.secret,
            "accessKeyKey": keys.get("AWS_ACCESS_KEY_ID", "accesskey"),
            "secretKeyKey": keys.get("AWS_SECRET_ACCESS_KEY", "secretkey"),
        },
    }
    return override


def wanted_providers(
    boxes: Sequence[Box], endpoint: str | None, region: str | None, root: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Overrides per scheme for the boxes (gs boxes need a token Secret: not ours to name).

    A pipeline root in the bucket of a box gets that box's Secret too: the root's session
    is what stages write outputs with, and what they read that bucket's boxes with.
    """
    wanted: dict[str, list[dict[str, Any]]] = {}
    for box in boxes:
        place = Place.of(box.uri)
        if place is not None and place.scheme in ("s3", "minio"):
            wanted.setdefault(place.scheme, []).append(box_override(box, endpoint, region))
    root_place = Place.of(root) if root else None
    if root_place is None or root_place.scheme not in wanted:
        return wanted
    same_bucket = [b for b in boxes if (p := Place.of(b.uri)) and p.bucket == root_place.bucket]
    chosen = next((b for b in same_bucket if b.default), same_bucket[0] if same_bucket else None)
    if chosen is not None and not covered({root_place.scheme: {"overrides": [
        o for o in wanted[root_place.scheme] if o["bucketName"] == root_place.bucket
    ]}}, Box(chosen.name, chosen.s3_box_name, root or "", None, False)):
        root_box = Box(chosen.name, chosen.s3_box_name, root_place.uri.rstrip("/"), None,
                       False, chosen.secret, chosen.secret_keys)
        wanted[root_place.scheme].append(box_override(root_box, endpoint, region))
    return wanted


def merge_providers(
    current: str | None, wanted: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, Any], list[str]]:
    """`current` providers YAML with `wanted` merged in, and what changed (for messages).

    Nothing of `current` is dropped: other schemes, defaults and other modules' overrides
    stay. An override of ours replaces one with the same bucket and keyPrefix, and goes
    before the first less specific override of its bucket (the first match wins).
    """
    data = yaml.safe_load(current) if current and current.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("kfp-launcher's providers is not a YAML mapping")
    changes: list[str] = []
    for scheme, overrides in wanted.items():
        entry = data.setdefault(scheme, {})
        if not isinstance(entry, dict):
            raise ValueError(f"kfp-launcher's providers.{scheme} is not a mapping")
        if entry.get("default") is None:
            entry["default"] = dict(INSTALL_MINIO_DEFAULT if scheme == "minio" else ENV_S3_DEFAULT)
            changes.append(f"{scheme}: added a default (required with overrides)")
        key = next((k for k in entry if k.lower() == "overrides"), "overrides")
        existing = entry.get(key) or []
        for override in overrides:
            existing, change = _insert(existing, override, scheme)
            if change:
                changes.append(change)
        entry[key] = existing
    return data, changes


def _insert(
    existing: list[dict[str, Any]], override: dict[str, Any], scheme: str
) -> tuple[list[dict[str, Any]], str | None]:
    bucket, prefix = override["bucketName"], override["keyPrefix"]
    where = f"{scheme}://{bucket}/{prefix}"
    for index, item in enumerate(existing):
        if item.get("bucketName") == bucket and (item.get("keyPrefix") or "") == prefix:
            if item == override:
                return existing, None
            return [*existing[:index], override, *existing[index + 1:]], f"replaced {where}"
    for index, item in enumerate(existing):
        if item.get("bucketName") == bucket and prefix.startswith(item.get("keyPrefix") or ""):
            return [*existing[:index], override, *existing[index:]], f"added {where}"
    return [*existing, override], f"added {where}"


def covered(providers: dict[str, Any], box: Box) -> dict[str, Any] | None:
    """The override the launcher would use for the box's data, as s3.go chooses it."""
    place = Place.of(box.uri)
    entry = providers.get(place.scheme) if place else None
    if not place or not isinstance(entry, dict):
        return None
    overrides = next((v for k, v in entry.items() if k.lower() == "overrides"), None) or []
    for item in overrides:
        if item.get("bucketName") == place.bucket and place.prefix.startswith(
            item.get("keyPrefix") or ""
        ):
            return dict(item)
    return None

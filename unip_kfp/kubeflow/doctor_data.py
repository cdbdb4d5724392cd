"""The doctor's rows about data: S3, the pipeline root, boxes, images, namespace objects.

S3 is reached with the caller's endpoint and keys (`unip_kfp.s3`), with a short timeout and
no retries. A box row checks that its bucket exists and its prefix can be listed; mounted
data must hold objects; the upload box (the default box, where `-i ./file` goes) gets a
probe object written under `users/<user>/file_groups/` and removed at once. Image rows check
the reference grammar, and flag mutable tags when caching is on (a re-pushed tag would reuse
results computed with the old image). The namespace objects row reads the Kubernetes API
(`kube.py`); without access it shows "–" and does not fail.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from typing import TYPE_CHECKING, Any

from ..errors import UnipKfpError
from ..plan.launcher_credentials import covered, pipeline_root, secret_boxes
from ..s3 import S3, Endpoint, Location, credentials, find_endpoint
from .doctor_rows import FAIL, PASS, SKIP, Check, Checkup, from_error

if TYPE_CHECKING:
    from ..plan.model import Box

# docker/distribution reference grammar (reference/regexp.go), lower-case repository path.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*" \
          r"[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
IMAGE = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
                   r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?")


class QuickS3(S3):
    """`S3` with a client that gives up within `timeout` seconds and never retries."""

    def __init__(self, endpoint: Endpoint, timeout: float):
        super().__init__(endpoint)
        self.timeout = timeout

    @property
    def client(self) -> Any:
        if self._client is None:
            import certifi
            import urllib3
            from minio import Minio

            access, secret, session = credentials()
            http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                retries=urllib3.Retry(total=0), cert_reqs="CERT_REQUIRED",
                ca_certs=self.endpoint.ca_cert or os.environ.get("SSL_CERT_FILE")
                or certifi.where(),
            )
            self._client = Minio(self.endpoint.host, access_key=access, secret_key=secret,
                                 session_token=session, secure=self.endpoint.secure,
                                 region=self.endpoint.region, http_client=http)
        return self._client


def data_checks(doctor: Checkup) -> None:
    s3 = check_s3(doctor)
    if s3 is None:
        for name in ["pipeline root", *(f"box {b.name}" for b in _boxes(doctor))]:
            doctor.add(Check(name, SKIP, "not checked: S3 failed"))
    else:
        _safely(doctor, "pipeline root", lambda: check_root(doctor, s3))
        for box in _boxes(doctor):
            _safely(doctor, f"box {box.name}", lambda b=box: check_box(doctor, s3, b))
    if doctor.project is not None:
        check_images(doctor)
        _safely(doctor, "namespace objects", lambda: check_namespace_objects(doctor))


def _safely(doctor: Checkup, name: str, step: Any) -> None:
    try:
        doctor.add(step())
    except UnipKfpError as exc:
        doctor.add(from_error(name, exc))


def _boxes(doctor: Checkup) -> list[Box]:
    if doctor.project is None:
        return []
    found: dict[str, Box] = {}
    for plan in doctor.project.pipelines:
        for box in plan.boxes:
            found.setdefault(box.uri, box)
    return [found[k] for k in sorted(found)]


def check_s3(doctor: Checkup) -> QuickS3 | None:
    """The endpoint answers and the keys are accepted (a refusal of listing is fine)."""
    try:
        endpoint = find_endpoint(doctor.s3_endpoint, doctor.settings.config.s3)
        if endpoint is None:
            doctor.add(Check("s3", FAIL, "no S3 endpoint", "pass --s3-endpoint URL, set "
                             "UNIP_KFP_S3_ENDPOINT, or s3.endpoint in unip-kfp.yaml"))
            return None
        s3 = QuickS3(endpoint, doctor.timeout)
        _ = s3.client  # missing keys: a usage error, caught below
        with s3.errors("listing buckets"):
            try:
                s3.client.list_buckets()
            except Exception as exc:  # noqa: BLE001 - AccessDenied means: keys accepted
                if getattr(exc, "code", None) != "AccessDenied":
                    raise
    except UnipKfpError as exc:
        doctor.add(from_error("s3", exc))
        return None
    where = f" ({endpoint.ca_cert})" if endpoint.ca_cert else ""
    doctor.add(Check("s3", PASS, f"{endpoint.url}{where}: keys accepted"))
    return s3


def check_root(doctor: Checkup, s3: QuickS3) -> Check:
    root = Location.parse(pipeline_root(doctor.settings))
    _readable(s3, root, f"reading the pipeline root {root.uri}")
    return Check("pipeline root", PASS, f"{root.uri}: bucket '{root.bucket}' exists, readable")


def _readable(s3: QuickS3, location: Location, action: str) -> bool:
    """The bucket exists and the prefix can be listed; whether anything is under it."""
    with s3.errors(action):  # a missing bucket answers NoSuchBucket to the listing
        listing = s3.client.list_objects(location.bucket, location.prefix, recursive=True)
        return next(iter(listing), None) is not None


def check_box(doctor: Checkup, s3: QuickS3, box: Box) -> Check:
    location = Location.parse(box.uri)
    _readable(s3, location, f"reading box '{box.name}' ({box.uri})")
    notes = ["bucket and prefix readable"]
    for plan in doctor.project.pipelines:
        for variable in plan.variables:
            mount = variable.mount_uri
            if mount and (mount == box.uri or mount.startswith(box.uri + "/")):
                if not _readable(s3, Location.parse(mount), f"reading {mount}"):
                    return Check(f"box {box.name}", FAIL, f"mounted data {mount} is empty",
                                 f"upload '{variable.name}' there first (it is mounted at "
                                 "every run)")
                notes.append(f"{variable.name} mounted from it")
    if box.default:
        notes.append(_write_probe(doctor, s3, location))
    return Check(f"box {box.name}", PASS, f"{box.uri}: " + ", ".join(notes))


def _write_probe(doctor: Checkup, s3: QuickS3, box: Location) -> str:
    """Write and remove one small object where uploads go; says so."""
    user = doctor.project.pipelines[0].user
    probe = box.child("users", user, "file_groups", f".unip-kfp-doctor-{secrets.token_hex(6)}")
    with s3.errors(f"writing a probe object to {probe.uri}"):
        s3.client.put_object(probe.bucket, probe.key, io.BytesIO(b"probe"), 5)
    with s3.errors(f"removing the probe object {probe.uri}"):
        s3.client.remove_object(probe.bucket, probe.key)
    return "uploads can be written (probe removed)"


def check_images(doctor: Checkup) -> None:
    """Well-formed references; tags instead of digests flagged when caching is on."""
    stages = [(p.name, s.name, s.image) for p in doctor.project.pipelines for s in p.stages]
    bad = [f"stage '{s}': '{i}'" for _, s, i in stages if not IMAGE.fullmatch(i)]
    if bad:
        doctor.add(Check("images", FAIL, "not an image reference: " + "; ".join(bad),
                         "use registry/repository:tag or repository@sha256:DIGEST"))
        return
    mutable = sorted({i for _, _, i in stages if not IMAGE.fullmatch(i)["digest"]})  # type: ignore[index]
    if doctor.cache and mutable:
        doctor.add(Check("images", FAIL, f"caching is on and {', '.join(mutable)} "
                         "is given by a tag: a re-pushed tag reuses results of the old image",
                         "pin the images by digest (image@sha256:...), or run without --cache"))
        return
    kind = "digests" if not mutable else "tags; caching is off" if not doctor.cache else ""
    doctor.add(Check("images", PASS, f"{len({i for *_, i in stages})} image(s) well-formed "
                                     f"({kind})"))


def check_namespace_objects(doctor: Checkup) -> Check:
    """Box and pull Secrets exist with their keys; with launcher, kfp-launcher covers boxes."""
    from .kube import Kube, KubeError

    namespace = doctor.namespace or doctor.settings.config.kubeflow.namespace
    kube = Kube.connect(doctor.timeout)
    if kube is None or not namespace:
        why = "no namespace" if kube else "no Kubernetes API access (no kubeconfig, not in a pod)"
        return Check("namespace objects", SKIP, f"not checked: {why}")
    plans = doctor.project.pipelines
    try:
        problems = _missing_secrets(kube, namespace, plans)
        if doctor.settings.config.kubeflow.credentials == "launcher":
            problems += _missing_providers(kube, namespace, plans)
    except KubeError as exc:
        return Check("namespace objects", SKIP, f"not checked: {exc}")
    if problems:
        return Check("namespace objects", FAIL, "; ".join(problems),
                     "unip-kfp cluster-config PATH writes them (Secrets as templates); "
                     "apply with kubectl apply -f")
    return Check("namespace objects", PASS, f"'{namespace}' has the Secrets (and kfp-launcher "
                                            f"providers) the module needs ({kube.source})")


def _missing_secrets(kube: Any, namespace: str, plans: Any) -> list[str]:
    wanted: dict[str, set[str]] = {}
    for box in secret_boxes(plans):
        wanted.setdefault(box.secret or "", set()).update(k for _, k in box.secret_keys)
    for plan in plans:
        for name in plan.image_pull_secrets:
            wanted.setdefault(name, set()).add(".dockerconfigjson")
    problems = []
    for name, keys in sorted(wanted.items()):
        found = kube.secret_keys(namespace, name)
        if found is None:
            problems.append(f"Secret {name} does not exist in '{namespace}'")
        elif keys - found:
            problems.append(f"Secret {name} lacks key(s) {', '.join(sorted(keys - found))}")
    return problems


def _missing_providers(kube: Any, namespace: str, plans: Any) -> list[str]:
    import yaml

    config_map = kube.config_map(namespace)
    text = ((config_map or {}).get("data") or {}).get("providers") or ""
    providers = yaml.safe_load(text) if text.strip() else {}
    problems = []
    for box in secret_boxes(plans):
        override = covered(providers if isinstance(providers, dict) else {}, box)
        secret = ((override or {}).get("credentials") or {}).get("secretRef") or {}
        if secret.get("secretName") != box.secret:
            problems.append(f"kfp-launcher in '{namespace}' does not name Secret {box.secret} "
                            f"for box '{box.name}' ({box.uri})")
    return problems

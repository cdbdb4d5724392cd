"""Where an artifact URI's data is on this machine: a local file, a local box folder, or S3.

A URI under a box's base URI maps to the box's local folder
`<workdir>/.unip-kfp/boxes/<s3BoxName>/<rest>`; the boxes come from the plan, and the
default convention `minio://mlpipeline/unip/<namespace>/<s3BoxName>/<rest>` covers packages
run without their manifests. `file://` URIs are local paths. Other `s3://`/`minio://` URIs,
and box URIs whose local folder does not exist, are downloaded with the `minio` client
from `UNIP_KFP_S3_ENDPOINT` (credentials `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, or
`MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`): an existing key is a file, otherwise `key/` is a
folder prefix. The sentinel URI of an omitted optional input is never resolved.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnreachableError, UsageError

__all__ = [
    "S3_ENDPOINT_ENV",
    "Artifact",
    "BoxFolder",
    "DataResolver",
    "S3Settings",
    "file_uri",
]

S3_ENDPOINT_ENV = "UNIP_KFP_S3_ENDPOINT"
_CONVENTION = re.compile(r"^minio://mlpipeline/unip/[^/]+/(?P<box>[^/]+)(?:/(?P<rest>.*))?$")
_S3_SCHEMES = ("s3", "minio")


@dataclass(frozen=True)
class Artifact:
    """An artifact as a stage sees it: the URI a Kubeflow run would have, and a local path."""

    uri: str
    path: str


@dataclass(frozen=True)
class BoxFolder:
    """A box's base URI and the local folder that stands in for it."""

    name: str
    uri: str
    folder: str


def file_uri(path: str) -> str:
    """`file://` URI of an absolute local path (percent-encoded, reversible)."""
    return Path(path).as_uri()


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3/MinIO; from the environment (or an explicit endpoint)."""

    endpoint: str
    secure: bool
    access_key: str
    secret_key: str
    region: str | None = None

    @classmethod
    def from_env(
        cls, endpoint: str | None = None, environ: Mapping[str, str] | None = None
    ) -> S3Settings | None:
        """None when no endpoint is configured; a usage error when credentials are missing."""
        env = os.environ if environ is None else environ
        raw = endpoint or env.get(S3_ENDPOINT_ENV, "")
        if not raw.strip():
            return None
        raw = raw.strip()
        secure = False
        if "://" in raw:
            parsed = urllib.parse.urlsplit(raw)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise UsageError(
                    f"{S3_ENDPOINT_ENV}={raw}: expected host:port or http(s)://host:port"
                )
            secure, raw = parsed.scheme == "https", parsed.netloc
        access = env.get("AWS_ACCESS_KEY_ID") or env.get("MINIO_ACCESS_KEY")
        secret = env.get("AWS_SECRET_ACCESS_KEY") or env.get("MINIO_SECRET_KEY")
        if not access or not secret:
            raise UsageError(
                f"{S3_ENDPOINT_ENV} is set but the credentials are not: set AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY and MINIO_SECRET_KEY)"
            )
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        return cls(raw, secure, access, secret, region)

    def client(self) -> Any:
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
        )
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.secure,
            region=self.region,
            http_client=http,
        )


@dataclass(frozen=True)
class _Place:
    """Where a URI's data is: a local `path`, or an S3 `bucket`/`key` (maybe via a box)."""

    uri: str
    path: str | None = None
    bucket: str | None = None
    key: str | None = None
    box: BoxFolder | None = None


class DataResolver:
    """Maps URIs to local paths; checks them before the run, downloads during it."""

    def __init__(
        self,
        *,
        imports_dir: str,
        boxes: Sequence[BoxFolder],
        boxes_root: str,
        sentinel: str,
        s3: S3Settings | None,
        echo: Callable[[str], None],
    ):
        self.imports_dir = imports_dir
        self.boxes = sorted(boxes, key=lambda b: len(b.uri), reverse=True)
        self.boxes_root = boxes_root
        self.sentinel = sentinel
        self.s3 = s3
        self.echo = echo
        self._client: Any = None
        self._fetched: dict[str, str] = {}
        self._lock = threading.Lock()

    def check(self, uri: str, what: str) -> None:
        """Fail before the run when `uri` cannot be read here (a usage error that says why)."""
        place = self._place(uri, what)
        if place.path is not None and not os.path.lexists(place.path):
            where = f" (box '{place.box.name}', folder {place.box.folder})" if place.box else ""
            raise UsageError(f"{what}: {uri}: no such file or folder {place.path}{where}")

    def fetch(self, uri: str, what: str) -> str:
        """The local path of `uri`'s data, downloading it into the run folder if needed."""
        if uri == self.sentinel:
            raise AssertionError("the sentinel URI must never be resolved")
        place = self._place(uri, what)
        if place.path is not None:
            return place.path
        with self._lock:
            if uri not in self._fetched:
                assert place.bucket is not None and place.key is not None
                self._fetched[uri] = self._download(place.bucket, place.key, what)
            return self._fetched[uri]

    def _place(self, uri: str, what: str) -> _Place:
        if uri == self.sentinel:
            raise AssertionError("the sentinel URI must never be resolved")
        if not uri:
            raise UsageError(f"{what}: empty URI")
        scheme, _, rest = uri.partition("://")
        if scheme == "file":
            parsed = urllib.parse.urlsplit(uri)
            if parsed.netloc not in ("", "localhost"):
                raise UsageError(f"{what}: {uri}: only local file:// URIs can be read")
            return _Place(uri, path=urllib.request.url2pathname(parsed.path))
        box, inside = self._box_of(uri)
        if box is not None:
            local = _within(box.folder, inside, uri, what)
            if os.path.isdir(box.folder):
                return _Place(uri, path=local, box=box)
            if self.s3 is None or scheme not in _S3_SCHEMES:
                raise UsageError(
                    f"{what}: {uri} is in the box '{box.name}', whose local folder "
                    f"{box.folder} does not exist, and no S3 endpoint is configured; put the "
                    f"data at {local}, or set {S3_ENDPOINT_ENV} and AWS_ACCESS_KEY_ID/"
                    "AWS_SECRET_ACCESS_KEY to read it from S3"
                )
        if scheme in _S3_SCHEMES:
            bucket, _, key = rest.partition("/")
            if not bucket:
                raise UsageError(f"{what}: {uri}: no bucket in the URI")
            if self.s3 is None:
                raise UsageError(
                    f"{what}: {uri} is in S3: set {S3_ENDPOINT_ENV} (host:port or URL) and "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to read it, or pass a local path"
                )
            return _Place(uri, bucket=bucket, key=key, box=box)
        raise UsageError(
            f"{what}: {uri}: the local runner reads local paths, file://, s3:// and minio:// "
            "URIs only"
        )

    def _box_of(self, uri: str) -> tuple[BoxFolder | None, str]:
        for box in self.boxes:
            if uri == box.uri or uri.startswith(box.uri + "/"):
                return box, uri[len(box.uri) :].strip("/")
        match = _CONVENTION.match(uri)
        if match is None:
            return None, ""
        name = match.group("box")
        folder = os.path.join(self.boxes_root, name)
        base = uri[: match.start("rest")].rstrip("/") if match.group("rest") else uri
        return BoxFolder(name, base, folder), (match.group("rest") or "").strip("/")

    def _download(self, bucket: str, key: str, what: str) -> str:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        assert self.s3 is not None
        if self._client is None:
            self._client = self.s3.client()
        client = self._client
        target_root = os.path.join(self.imports_dir, str(len(self._fetched) + 1))
        name = os.path.basename(key.rstrip("/")) or bucket
        target = os.path.join(target_root, name)
        uri = f"s3://{bucket}/{key}"
        try:
            if key and not key.endswith("/") and _exists(client, bucket, key):
                client.fget_object(bucket, key, target)
                self.echo(f"unip-kfp: {what}: downloaded {uri} ({os.path.getsize(target)} bytes)")
                return target
            prefix = key.rstrip("/") + "/" if key.strip("/") else ""
            count = 0
            os.makedirs(target, exist_ok=True)
            for item in client.list_objects(bucket, prefix=prefix, recursive=True):
                if item.is_dir or item.object_name.endswith("/"):
                    continue
                relative = item.object_name[len(prefix) :]
                client.fget_object(bucket, item.object_name, _within(target, relative, uri, what))
                count += 1
        except S3Error as exc:
            raise UnreachableError(f"{what}: cannot read {uri}: {exc.code}: {exc.message}") from exc
        except ValueError as exc:  # minio checks bucket and object names client-side
            raise UsageError(f"{what}: cannot read {uri}: {exc}") from exc
        except HTTPError as exc:
            raise UnreachableError(
                f"{what}: cannot reach S3 at {self.s3.endpoint} for {uri}: {exc}"
            ) from exc
        if count == 0:
            self.echo(f"unip-kfp: {what}: warning: nothing at {uri}; it is an empty folder")
        else:
            self.echo(f"unip-kfp: {what}: downloaded {count} file(s) under {uri}")
        return target


def _exists(client: Any, bucket: str, key: str) -> bool:
    from minio.error import S3Error

    try:
        client.stat_object(bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NotFound", "ResourceNotFound"):
            return False
        raise
    return True


def _within(root: str, relative: str, uri: str, what: str) -> str:
    """`root/relative`, refusing anything that would land outside `root` (`..`, absolute)."""
    joined = os.path.normpath(os.path.join(root, relative)) if relative else root
    if joined != root and not joined.startswith(root.rstrip(os.sep) + os.sep):
        raise UsageError(f"{what}: {uri}: '{relative}' leads outside {root}")
    return joined

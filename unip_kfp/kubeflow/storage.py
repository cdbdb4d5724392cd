"""Box transfers with the `minio` client: upload local inputs, copy and download outputs.

Where S3 is and who we are come from the caller, never from a package:

* endpoint: `--s3-endpoint` / `s3_endpoint=`, else `UNIP_KFP_S3_ENDPOINT`, else `s3.endpoint`
  in `unip-kfp.yaml`, else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`. `http://host:port`
  means plain HTTP; a bare `host:port` uses `s3.secure` (default: TLS).
* keys: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
  `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`. They are never printed or logged.

URIs are `minio://bucket/key` or `s3://bucket/key`: the bucket is the host part, as the KFP
launcher reads them. Network failures and refusals are `UnreachableError` (exit 5) within
seconds: the HTTP client retries connections once, not minio's default five times.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config import S3Config
from ..errors import RunFailedError, UnreachableError, UsageError

SCHEMES = ("minio", "s3")
_REFUSALS = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}


@dataclass(frozen=True)
class Location:
    """An object or prefix in a bucket, with the scheme it was named by."""

    scheme: str
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> Location:
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme not in SCHEMES or not parts.netloc:
            raise UsageError(
                f"{uri}: only minio://bucket/key and s3://bucket/key can be transferred "
                "(the bucket is the host part)"
            )
        return cls(parts.scheme, parts.netloc, parts.path.strip("/"))

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}".rstrip("/")

    def child(self, *names: str) -> Location:
        key = "/".join(p.strip("/") for p in (self.key, *names) if p.strip("/"))
        return Location(self.scheme, self.bucket, key)

    @property
    def parent(self) -> Location:
        return Location(self.scheme, self.bucket, self.key.rpartition("/")[0])

    @property
    def prefix(self) -> str:
        """The key as a folder prefix (`a/b/`), or '' for the bucket root."""
        return f"{self.key}/" if self.key else ""


@dataclass(frozen=True)
class Endpoint:
    """Where the S3 API listens (no credentials in here: they are read when connecting)."""

    host: str
    secure: bool
    region: str | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}"


def resolve_endpoint(explicit: str | None, config: S3Config | None = None) -> Endpoint:
    """The S3 endpoint by the precedence in the module doc; none is a usage error."""
    config = config or S3Config()
    raw = (
        explicit
        or os.environ.get("UNIP_KFP_S3_ENDPOINT")
        or config.endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if not raw:
        raise UsageError(
            "box transfers need the S3 endpoint: pass --s3-endpoint URL, set "
            "UNIP_KFP_S3_ENDPOINT, or s3.endpoint in unip-kfp.yaml (Kubeflow's own store: "
            "kubectl port-forward -n kubeflow svc/minio-service 9000:9000, then "
            "--s3-endpoint http://localhost:9000)"
        )
    region = config.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if "://" in raw:
        parts = urllib.parse.urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise UsageError(f"S3 endpoint {raw}: expected http(s)://host[:port] with no path")
        return Endpoint(parts.netloc, parts.scheme == "https", region)
    secure = True if config.secure is None else config.secure
    return Endpoint(raw.strip("/"), secure, region)


def _credentials() -> tuple[str, str, str | None]:
    access = os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("MINIO_ACCESS_KEY")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("MINIO_SECRET_KEY")
    if not access or not secret:
        raise UsageError(
            "box transfers need S3 keys: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or MINIO_ACCESS_KEY and MINIO_SECRET_KEY) in the environment"
        )
    return access, secret, os.environ.get("AWS_SESSION_TOKEN") or None


class Storage:
    """A minio client with our error mapping; created when a transfer first needs it."""

    def __init__(self, endpoint: Endpoint, echo: Callable[[str], None] | None = None):
        self.endpoint = endpoint
        self.echo = echo or (lambda line: None)
        self._client: Any = None
        self._checked: set[str] = set()

    @property
    def client(self) -> Any:
        if self._client is None:
            import certifi
            import urllib3
            from minio import Minio

            access, secret, session = _credentials()
            http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=5, read=120),
                retries=urllib3.Retry(
                    total=3, connect=1, read=1, backoff_factor=0.2,
                    status_forcelist=[500, 502, 503, 504],
                ),
                cert_reqs="CERT_REQUIRED",
                ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            )
            self._client = Minio(
                self.endpoint.host, access_key=access, secret_key=secret, session_token=session,
                secure=self.endpoint.secure, region=self.endpoint.region, http_client=http,
            )
        return self._client

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """S3 and network failures while `action` as `UnreachableError`, with a hint."""
        from minio.error import InvalidResponseError, S3Error
        from urllib3.exceptions import HTTPError as Urllib3Error

        where = self.endpoint.url
        try:
            yield
        except S3Error as exc:
            if exc.code in _REFUSALS:
                raise UnreachableError(
                    f"S3 at {where} refused {action} ({exc.code})\n    hint: check "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket's policy"
                ) from None
            if exc.code == "NoSuchBucket":
                raise UnreachableError(
                    f"S3 at {where}: bucket '{exc.bucket_name}' does not exist ({action})\n"
                    "    hint: check the box URI (--box, unip-kfp.yaml) and the S3 endpoint"
                ) from None
            raise UnreachableError(
                f"S3 at {where} failed {action}: {exc.code}: {exc.message}"
            ) from None
        except InvalidResponseError as exc:
            raise UnreachableError(
                f"{where} does not answer like S3 while {action} (HTTP {exc._code}); "
                "is --s3-endpoint the S3 API (not a console)?"
            ) from None
        except (Urllib3Error, OSError) as exc:
            if isinstance(exc, OSError) and not _is_network_error(exc):
                raise RunFailedError(f"{action}: {exc}") from None
            raise UnreachableError(
                f"cannot reach S3 at {where} while {action}: {_reason(exc)}\n    hint: check "
                "--s3-endpoint / UNIP_KFP_S3_ENDPOINT / s3.endpoint (a port-forward running?)"
            ) from None

    def check_bucket(self, bucket: str) -> None:
        """Fail early (exit 5) when the endpoint, the keys or the bucket are wrong."""
        if bucket in self._checked:
            return
        with self.errors(f"checking bucket '{bucket}'"):
            exists = self.client.bucket_exists(bucket)
        if not exists:
            raise UnreachableError(
                f"S3 at {self.endpoint.url}: bucket '{bucket}' does not exist\n"
                "    hint: check the box URI (--box, unip-kfp.yaml) and the S3 endpoint"
            )
        self._checked.add(bucket)

    # ---- listing

    def names(self, location: Location) -> list[str]:
        """Keys under `location` taken as a folder, relative to it (sorted)."""
        self.check_bucket(location.bucket)
        prefix = location.prefix
        with self.errors(f"listing {location.uri}/"):
            names = [
                o.object_name
                for o in self.client.list_objects(location.bucket, prefix, recursive=True)
                if not o.is_dir
            ]
        return sorted(n[len(prefix):] for n in names if not n.endswith("/"))

    def exists(self, location: Location) -> bool:
        """An object with exactly this key."""
        from minio.error import S3Error

        self.check_bucket(location.bucket)
        with self.errors(f"reading {location.uri}"):
            try:
                self.client.stat_object(location.bucket, location.key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    return False
                raise
        return True

    # ---- uploads (inputs)

    def upload(self, local: str, destination: Location) -> Location:
        """A local file (to `<dest>/<name>`) or folder (under `<dest>/`); returns its location."""
        self.check_bucket(destination.bucket)
        if os.path.isfile(local):
            target = destination.child(os.path.basename(local))
            with self.errors(f"uploading {local} to {target.uri}"):
                self.client.fput_object(target.bucket, target.key, local)
            return target
        files = []
        for folder, dirs, names in os.walk(local):
            dirs.sort()
            files += [os.path.join(folder, n) for n in sorted(names)]
        for path in files:
            relative = os.path.relpath(path, local).replace(os.sep, "/")
            target = destination.child(relative)
            with self.errors(f"uploading {path} to {target.uri}"):
                self.client.fput_object(target.bucket, target.key, path)
        return destination

    # ---- outputs

    def copy_tree(self, source: Location, names: list[str], destination: Location,
                  *, force: bool = False) -> None:
        """Server-side copy of `source/<name>` for each name to `destination/<name>`."""
        from minio.commonconfig import CopySource

        self.check_bucket(destination.bucket)
        existing = self.names(destination)
        if existing and not force:
            raise UsageError(
                f"{destination.uri}/ already holds {len(existing)} object(s); refusing to mix "
                "outputs into it (choose another destination, or force)"
            )
        if existing:
            self._remove(destination, existing)
        for name in names:
            src, dst = source.child(name) if name else source, destination.child(name)
            with self.errors(f"copying {src.uri} to {dst.uri}"):
                self.client.copy_object(dst.bucket, dst.key, CopySource(src.bucket, src.key))

    def download_tree(self, source: Location, names: list[str], folder: str) -> None:
        """Download `source/<name>` for each name into `folder/<name>`."""
        root = os.path.abspath(folder)
        for name in names:
            parts = [p for p in name.split("/") if p]
            if any(p in (".", "..") for p in parts):
                raise RunFailedError(f"refusing to download {source.uri}/{name}: unsafe path")
            src = source.child(name) if name else source
            path = os.path.join(root, *parts)
            with self.errors(f"downloading {src.uri}"):
                self.client.fget_object(src.bucket, src.key, path)

    def _remove(self, location: Location, names: list[str]) -> None:
        from minio.deleteobjects import DeleteObject

        with self.errors(f"clearing {location.uri}/"):
            failures = list(
                self.client.remove_objects(
                    location.bucket, [DeleteObject(location.child(n).key) for n in names]
                )
            )
        if failures:
            raise UnreachableError(
                f"S3 at {self.endpoint.url} did not delete {len(failures)} object(s) under "
                f"{location.uri}/ (first: {failures[0].name}: {failures[0].message})"
            )


def prepare_local_folder(path: str, *, force: bool) -> str:
    """An empty local folder for outputs; a non-empty one is refused unless `force`."""
    folder = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{path} exists and is not a folder")
    if os.path.isdir(folder) and os.listdir(folder):
        if not force:
            raise UsageError(
                f"{path} is not empty; refusing to mix outputs into it (choose another "
                "folder, or --force to replace its content)"
            )
        for entry in os.listdir(folder):
            full = os.path.join(folder, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
    os.makedirs(folder, exist_ok=True)
    return folder


def _is_network_error(exc: OSError) -> bool:
    import socket

    return isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, socket.timeout))


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text or isinstance(reason, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return text

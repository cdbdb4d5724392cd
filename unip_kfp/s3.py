"""S3 for both backends: where it is, who we are, the `minio` client, its errors, downloads.

Where S3 is and who we are come from the caller, never from a package:

* endpoint: `--s3-endpoint` / `s3_endpoint=`, else `UNIP_KFP_S3_ENDPOINT`, else `s3.endpoint`
  in `unip-kfp.yaml`, else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`. `http://host:port`
  means plain HTTP; a bare `host:port` uses `s3.secure` (default: TLS).
* keys: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
  `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`. They are never printed or logged.

URIs are `minio://bucket/key` or `s3://bucket/key`: the bucket is the host part, as the KFP
launcher reads them. Network failures and refusals are `UnreachableError` (exit 5) within
seconds: the HTTP client retries connections once, not minio's default five times. Each
refusal says what to fix (a wrong secret, an unknown key, keys without permission, a missing
bucket); a refused HEAD request has no body, so the store is asked once more with a small
listing, whose answer names the cause (tests/test_s3_errors.py, against SeaweedFS). A name
that is both an object and a folder (`k/f` and `k/f/g`) is never read, and outputs are never
written below an object (`check_folder`): stores disagree on such names (MinIO hides the
folder, versitygw refuses it, SeaweedFS and AWS keep both). Names the client refuses, and
object names that would land outside a download folder, are `UsageError` (exit 2). `minio`
is imported when a client is first needed.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import RunFailedError, UnreachableError, UsageError
from .manifests.project_config import S3Config

SCHEMES = ("minio", "s3")
ENDPOINT_ENV = "UNIP_KFP_S3_ENDPOINT"
_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"}
_KEYS_HINT = "AWS_ACCESS_KEY_ID (or MINIO_ACCESS_KEY)"
_SECRET_HINT = "AWS_SECRET_ACCESS_KEY (or MINIO_SECRET_KEY)"
_TOKEN_HINT = "refresh AWS_SESSION_TOKEN, or unset it for long-lived keys"
# What a refusal means, and what to fix; `{bucket}` is the bucket of the request.
_REFUSALS = {
    "SignatureDoesNotMatch": (
        "the secret key does not match the access key",
        f"set {_SECRET_HINT} to the secret of AWS_ACCESS_KEY_ID on this store",
    ),
    "InvalidAccessKeyId": (
        "the store does not know the access key",
        f"{_KEYS_HINT} is not a key of this store; is the S3 endpoint the right one?",
    ),
    "AccessDenied": (
        "the keys may not do this",
        "the store accepted the keys but refuses this request: check the policies of the "
        "keys' user and of {bucket}",
    ),
    "InvalidToken": ("the session token is not valid", _TOKEN_HINT),
    "ExpiredToken": ("the session token has expired", _TOKEN_HINT),
    "AllAccessDisabled": ("all access to {bucket} is disabled", "ask the store's administrator"),
    "RequestTimeTooSkewed": (
        "this machine's clock is too far from the store's",
        "set this machine's clock (NTP), then try again",
    ),
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
    # s3.caCert, else AWS_CA_BUNDLE; else SSL_CERT_FILE / certifi. Not part of equality:
    # the same endpoint is the same place whichever bundle checks its certificate.
    ca_cert: str | None = field(default=None, compare=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}"


def find_endpoint(explicit: str | None = None, config: S3Config | None = None) -> Endpoint | None:
    """The S3 endpoint by the precedence in the module doc, or None when none is set."""
    config = config or S3Config()
    raw = (
        explicit
        or os.environ.get(ENDPOINT_ENV)
        or config.endpoint
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or ""
    ).strip()
    if not raw:
        return None
    region = config.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    ca = config.ca_cert or os.environ.get("AWS_CA_BUNDLE") or None
    if ca and not os.path.isfile(os.path.expanduser(ca)):
        raise UsageError(f"S3 CA bundle {ca}: no such file (s3.caCert, AWS_CA_BUNDLE)")
    ca = os.path.abspath(os.path.expanduser(ca)) if ca else None
    if "://" in raw:
        parts = urllib.parse.urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise UsageError(f"S3 endpoint {raw}: expected http(s)://host[:port] with no path")
        return Endpoint(parts.netloc, parts.scheme == "https", region or None, ca)
    secure = True if config.secure is None else config.secure
    return Endpoint(raw.strip("/"), secure, region or None, ca)


def resolve_endpoint(explicit: str | None = None, config: S3Config | None = None) -> Endpoint:
    """`find_endpoint`, where no endpoint at all is a usage error."""
    endpoint = find_endpoint(explicit, config)
    if endpoint is None:
        raise UsageError(
            "box transfers need the S3 endpoint: pass --s3-endpoint URL, set "
            f"{ENDPOINT_ENV}, or s3.endpoint in unip-kfp.yaml (Kubeflow's own store: "
            "kubectl port-forward -n kubeflow svc/minio-service 9000:9000, then "
            "--s3-endpoint http://localhost:9000)"
        )
    return endpoint


def credentials() -> tuple[str, str, str | None]:
    """(access key, secret key, session token) from the environment; none is a usage error."""
    access = os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("MINIO_ACCESS_KEY")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("MINIO_SECRET_KEY")
    if not access or not secret:
        raise UsageError(
            "S3 transfers need S3 keys (credentials): set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY and MINIO_SECRET_KEY) in the environment"
        )
    return access, secret, os.environ.get("AWS_SESSION_TOKEN") or None


def make_client(endpoint: Endpoint) -> Any:
    """A `minio.Minio` for `endpoint`: 5 s to connect, one connection retry, checked TLS."""
    import certifi
    import urllib3
    from minio import Minio

    access, secret, session = credentials()
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=120),
        retries=urllib3.Retry(
            total=3, connect=1, read=1, backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
        ),
        cert_reqs="CERT_REQUIRED",
        ca_certs=endpoint.ca_cert or os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    return Minio(
        endpoint.host, access_key=access, secret_key=secret, session_token=session,
        secure=endpoint.secure, region=endpoint.region, http_client=http,
    )


class Downloaded(NamedTuple):
    """What `S3.download` wrote: one file, or `files` files under a folder."""

    is_file: bool
    files: int


class S3:
    """One endpoint's client (created when first needed) with the error mapping."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.endpoint)
        return self._client

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """S3 and network failures while `action` as `UnreachableError` (exit 5) that names
        the cause; refused HEAD requests are asked again as a GET to learn it."""
        from minio.error import InvalidResponseError, S3Error
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            yield
        except (S3Error, InvalidResponseError, Urllib3Error, OSError, ValueError) as exc:
            raise self._failure(self._explained(exc), action) from None

    def _explained(self, exc: Exception) -> Exception:
        """For an error minio made up from a bodiless answer (HEAD: every refusal is
        "AccessDenied"), the store's own answer to a small listing of the same place."""
        from minio.error import InvalidResponseError, S3Error

        if not isinstance(exc, S3Error) or not exc.bucket_name:
            return exc
        if exc.response is not None and exc.response.data:  # the store said why
            return exc
        try:
            listing = self.client.list_objects(exc.bucket_name, exc.object_name or None)
            next(iter(listing), None)
        except (S3Error, InvalidResponseError) as answer:
            return answer
        except Exception:  # the first error stays the one reported
            return exc
        return exc

    def _failure(self, exc: Exception, action: str) -> Exception:
        """The product error for `exc`, raised while `action`."""
        from minio.error import InvalidResponseError, S3Error
        from urllib3.exceptions import HTTPError as Urllib3Error

        where = self.endpoint.url
        if isinstance(exc, S3Error):
            bucket = f"bucket '{exc.bucket_name}'" if exc.bucket_name else "the bucket"
            if exc.code in _REFUSALS:
                what, hint = (t.format(bucket=bucket) for t in _REFUSALS[exc.code])
                return UnreachableError(
                    f"S3 at {where} refused {action}: {what} ({exc.code})\n    hint: {hint}"
                )
            if exc.code == "NoSuchBucket":
                return UnreachableError(
                    f"S3 at {where}: {bucket} does not exist ({action})\n    hint: check the "
                    "bucket (the host part of the URI, or of the box's URI: --box, "
                    "unip-kfp.yaml) and the S3 endpoint"
                )
            return UnreachableError(f"S3 at {where} failed {action}: {exc.code}: {exc.message}")
        if isinstance(exc, InvalidResponseError):
            return UnreachableError(
                f"{where} does not answer like S3 while {action} (HTTP {exc._code}); "
                "is --s3-endpoint the S3 API (not a console)?"
            )
        if isinstance(exc, ValueError) and not isinstance(exc, Urllib3Error):
            # minio checks bucket and object names client-side
            return UsageError(f"S3 names refused while {action}: {exc}")
        if isinstance(exc, OSError) and not _is_network_error(exc):
            return RunFailedError(f"{action}: {exc}")
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            ca = self.endpoint.ca_cert or os.environ.get("SSL_CERT_FILE") or "the public CAs"
            return UnreachableError(
                f"TLS to S3 at {where} failed with {ca} while {action}: the certificate is not "
                "signed by it\n    hint: pass the CA that signed it: s3.caCert in unip-kfp.yaml "
                "or AWS_CA_BUNDLE"
            )
        return UnreachableError(
            f"cannot reach S3 at {where} while {action}: {_reason(exc)}\n    hint: check "
            "--s3-endpoint / UNIP_KFP_S3_ENDPOINT / s3.endpoint (a port-forward running?)"
        )

    def is_file(self, location: Location, action: str | None = None) -> bool:
        """An object with exactly this key (not the bucket root)."""
        from minio.error import S3Error

        if not location.key:
            return False
        with self.errors(action or f"reading {location.uri}"):
            try:
                self.client.stat_object(location.bucket, location.key)
            except S3Error as exc:
                if exc.code in _MISSING:
                    return False
                raise
        return True

    def names(self, location: Location, action: str | None = None) -> list[str]:
        """Keys under `location` taken as a folder, relative to it (sorted)."""
        prefix = location.prefix
        with self.errors(action or f"listing {location.uri}/"):
            names = [
                o.object_name
                for o in self.client.list_objects(location.bucket, prefix, recursive=True)
                if not o.is_dir
            ]
        return sorted(n[len(prefix):] for n in names if not n.endswith("/"))

    def check_folder(self, location: Location, action: str | None = None) -> None:
        """Refuse `location` as a folder to write outputs into when an object has its key or
        a parent's: MinIO would hide what is written, versitygw would refuse it."""
        key = location.key
        while key:
            place = Location(location.scheme, location.bucket, key)
            if self.is_file(place, action or f"checking {location.uri}/"):
                raise UsageError(
                    f"{location.uri}/ cannot hold outputs: {place.uri} is an object (a file), "
                    "and a name that is both a file and a folder is hidden or refused by some "
                    "S3 stores (MinIO hides the folder); choose another destination"
                )
            key = key.rpartition("/")[0]

    def _holds_objects(self, location: Location, action: str) -> bool:
        with self.errors(action):
            found = self.client.list_objects(location.bucket, location.prefix, recursive=True)
            return next(iter(found), None) is not None

    def download(self, location: Location, target: str, action: str | None = None
                 ) -> Downloaded:
        """The key as a file to the path `target` when it is an object, else every object
        under `key/` into the folder `target` (created, even for none)."""
        action = action or f"downloading {location.uri}"
        if self.is_file(location, action):
            if self._holds_objects(location, action):
                raise UsageError(
                    f"{location.uri} is both an object and a folder (objects under "
                    f"{location.uri}/); S3 stores differ on which one they show (MinIO hides "
                    f"the folder), so unip-kfp reads neither: rename one of them ({action})"
                )
            with self.errors(action):
                self.client.fget_object(location.bucket, location.key, target)
            return Downloaded(True, 1)
        root = os.path.abspath(target)
        names = self.names(location, action)
        paths = [within(root, name, location.uri) for name in names]  # all checked first
        os.makedirs(root, exist_ok=True)
        for name, path in zip(names, paths, strict=True):
            with self.errors(action):
                self.client.fget_object(location.bucket, location.prefix + name, path)
        return Downloaded(False, len(paths))


def within(root: str, relative: str, what: str) -> str:
    """`root/relative`, refusing anything that would land outside `root` (`..`, absolute)."""
    joined = os.path.normpath(os.path.join(root, relative)) if relative else root
    if joined != root and not joined.startswith(root.rstrip(os.sep) + os.sep):
        raise UsageError(f"{what}: '{relative}' leads outside {root}")
    return joined


def _is_network_error(exc: OSError) -> bool:
    import socket

    return isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror, socket.timeout))


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text or isinstance(reason, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return text

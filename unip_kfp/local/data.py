"""Where an artifact URI's data is on this machine: a local file, a local box folder, or S3.

A URI under a box's base URI maps to the box's local folder
`<workdir>/.unip-kfp/boxes/<s3BoxName>/<rest>`; the boxes come from the plan, and the
default convention `minio://mlpipeline/unip/<namespace>/<s3BoxName>/<rest>` covers packages
run without their manifests. `file://` URIs are local paths. Other `s3://`/`minio://` URIs,
and box URIs whose local folder does not exist, are downloaded through `unip_kfp.s3` (its
endpoint and credentials rules): an existing key is a file, otherwise `key/` is a folder
prefix. The sentinel URI of an omitted optional input is never resolved.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import s3
from ..checks.boxes import DEFAULT_BOX_ROOT
from ..errors import UsageError

__all__ = ["Artifact", "BoxFolder", "DataResolver", "file_uri"]

# `DEFAULT_BOX_ROOT/<namespace>/<s3BoxName>/<rest>`: boxes of a package without manifests.
_CONVENTION = re.compile(
    "^" + re.escape(DEFAULT_BOX_ROOT) + r"/[^/]+/(?P<box>[^/]+)(?:/(?P<rest>.*))?$"
)


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
class _Place:
    """Where a URI's data is: a local `path`, or an S3 `location` (maybe via a box)."""

    uri: str
    path: str | None = None
    location: s3.Location | None = None
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
        endpoint: s3.Endpoint | None,
        echo: Callable[[str], None],
    ):
        self.imports_dir = imports_dir
        self.boxes = sorted(boxes, key=lambda b: len(b.uri), reverse=True)
        self.boxes_root = boxes_root
        self.sentinel = sentinel
        self.endpoint = endpoint
        self.echo = echo
        self._s3: s3.S3 | None = None
        self._fetched: dict[str, str] = {}
        self._lock = threading.Lock()

    def check(self, uri: str, what: str) -> str | None:
        """Fail before the run when `uri` cannot be read here (a usage error that says why).

        Returns the local path of the data, None for data read from S3.
        """
        place = self._place(uri, what)
        if place.path is not None and not os.path.lexists(place.path):
            where = f" (box '{place.box.name}', folder {place.box.folder})" if place.box else ""
            raise UsageError(f"{what}: {uri}: no such file or folder {place.path}{where}")
        return place.path

    def fetch(self, uri: str, what: str) -> str:
        """The local path of `uri`'s data, downloading it into the run folder if needed."""
        if uri == self.sentinel:
            raise AssertionError("the sentinel URI must never be resolved")
        place = self._place(uri, what)
        if place.path is not None:
            return place.path
        with self._lock:
            if uri not in self._fetched:
                assert place.location is not None
                self._fetched[uri] = self._download(place.location, what)
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
        box, inside = self.box_of(uri)
        if box is not None:
            local = s3.within(box.folder, inside, f"{what}: {uri}")
            if os.path.isdir(box.folder):
                return _Place(uri, path=local, box=box)
            if self.endpoint is None or scheme not in s3.SCHEMES:
                raise UsageError(
                    f"{what}: {uri} is in the box '{box.name}', whose local folder "
                    f"{box.folder} does not exist, and no S3 endpoint is configured; put the "
                    f"data at {local}, or set {s3.ENDPOINT_ENV} (or --s3-endpoint, or "
                    "s3.endpoint in unip-kfp.yaml) and AWS_ACCESS_KEY_ID/"
                    "AWS_SECRET_ACCESS_KEY to read it from S3"
                )
        if scheme in s3.SCHEMES:
            if not rest.partition("/")[0]:
                raise UsageError(f"{what}: {uri}: no bucket in the URI")
            if self.endpoint is None:
                raise UsageError(
                    f"{what}: {uri} is in S3: set {s3.ENDPOINT_ENV} (host:port or URL; or "
                    "--s3-endpoint, or s3.endpoint in unip-kfp.yaml) and "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to read it, or pass a local path"
                )
            s3.credentials()  # missing keys: a usage error before anything runs
            return _Place(uri, location=s3.Location.parse(uri), box=box)
        raise UsageError(
            f"{what}: {uri}: the local runner reads local paths, file://, s3:// and minio:// "
            "URIs only"
        )

    def box_of(self, uri: str) -> tuple[BoxFolder | None, str]:
        """The box whose base URI holds `uri` (plan boxes, else the convention), and the rest."""
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

    def _download(self, location: s3.Location, what: str) -> str:
        assert self.endpoint is not None
        if self._s3 is None:
            self._s3 = s3.S3(self.endpoint)
        name = os.path.basename(location.key) or location.bucket
        target = os.path.join(self.imports_dir, str(len(self._fetched) + 1), name)
        uri = location.uri
        done = self._s3.download(location, target, f"reading {uri} for {what}")
        if done.is_file:
            self.echo(f"unip-kfp: {what}: downloaded {uri} ({os.path.getsize(target)} bytes)")
        elif done.files == 0:
            self.echo(f"unip-kfp: {what}: warning: nothing at {uri}; it is an empty folder")
        else:
            self.echo(f"unip-kfp: {what}: downloaded {done.files} file(s) under {uri}")
        return target

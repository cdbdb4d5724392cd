"""Box transfers for Kubeflow runs: upload local inputs, copy and download outputs.

Endpoint, keys, the client, its error mapping and downloads are `unip_kfp.s3`'s; this adds
what only submissions and their outputs need: bucket checks, listing, uploads and
server-side copies.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from ..errors import UnreachableError, UsageError
from ..s3 import S3, Endpoint, Location


class Storage(S3):
    """The S3 client of a submission; created when a transfer first needs it."""

    def __init__(self, endpoint: Endpoint, echo: Callable[[str], None] | None = None):
        super().__init__(endpoint)
        self.echo = echo or (lambda line: None)
        self._checked: set[str] = set()

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

    def names(self, location: Location, action: str | None = None) -> list[str]:
        """Keys under `location` taken as a folder, relative to it (sorted)."""
        self.check_bucket(location.bucket)
        return super().names(location, action)

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
        self.check_folder(destination)
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

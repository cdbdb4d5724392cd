"""`-o NAME=DEST` for a local run: checked before anything runs, written only after success.

The same rule as Kubeflow runs (`launch/arguments.py`): a local path is a folder on this machine;
`s3://`/`minio://` is uploaded through `unip_kfp.s3`; a box-relative path is the default
box's file API. A destination in a box (box-relative, or a URI under a box's base) goes to
the box's local folder under `.unip-kfp/boxes/` when that folder exists or no S3 endpoint
is set, else to S3: the one way a run writes into a local box.

Refused before anything runs (exit 2, even with `--force`): a local folder that equals or
nests in another `-o` folder; equals, contains or lies inside an input's data; equals or
contains the module folder; equals, contains or lies inside the manifests or `.unip-kfp`
(box folders apart). A non-empty destination needs `--force`. Replacing is done after the
run succeeded: a local folder through a new sibling and a rename (a failure at any point
leaves the old content), S3 by uploading every new object before deleting the ones the new
output does not have.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import s3
from ..checks.roles import Role
from ..errors import UnreachableError, UsageError
from ..launch import arguments
from ..plan.model import PipelinePlan
from .data import DataResolver
from .package_reader import Package
from .sandbox import remove_tree

__all__ = ["Destination", "Protected", "destinations", "publish"]


@dataclass(frozen=True)
class Protected:
    """What a destination must keep clear of: the run's own folders and the inputs' data."""

    workdir: str
    state_dir: str
    sources: tuple[str, ...]
    """Manifest folders, or the package file."""
    inputs: Mapping[str, str] = field(default_factory=dict)
    """Local path -> which input reads it."""
    remote_inputs: Mapping[str, str] = field(default_factory=dict)
    """S3 URI -> which input reads it."""


@dataclass(frozen=True)
class Destination:
    """Where one output goes: a local folder (`path`) or an S3 prefix (`location`)."""

    key: str
    label: str
    shown: str
    path: str = ""
    location: s3.Location | None = None


def destinations(
    package: Package,
    plan: PipelinePlan,
    given: Mapping[str, Any],
    *,
    force: bool,
    protected: Protected,
    resolver: DataResolver,
) -> list[Destination]:
    """Every `-o`, checked as the module doc says, before the run folder exists."""
    outputs = set(package.root.output_definitions.artifacts)
    result: list[Destination] = []
    for name, dest in given.items():
        var = arguments.find_variable(plan, name, (Role.OUTPUT,), "an output")
        text = os.fspath(dest)
        label = arguments.output_label(var.name, text)
        if var.param not in outputs:
            raise UsageError(f"{label}: not an output of the package; recompile it")
        if any(d.key == var.param for d in result):
            raise UsageError(f"{label}: that output is given twice")
        local = isinstance(dest, os.PathLike) or arguments.classify(text) == "local"
        result.append(
            _destination(var.param, label, text, local, plan, resolver, protected, result)
        )
    _check_remote(result, resolver, force)
    for item in result:
        if item.path and os.path.isdir(item.path) and os.listdir(item.path) and not force:
            raise UsageError(
                f"{item.label}: {item.path} is not empty; choose an empty or new folder, or "
                "pass --force to replace it after the run succeeds"
            )
    return result


def _destination(
    key: str, label: str, text: str, local: bool, plan: PipelinePlan,
    resolver: DataResolver, protected: Protected, chosen: Sequence[Destination],
) -> Destination:  # fmt: skip
    if local:
        path = os.path.realpath(os.path.abspath(os.path.expanduser(text)))
        _check_local(path, label, protected, chosen, in_box=False)
        return Destination(key, label, path, path=path)
    uri = text if arguments.classify(text) == "uri" else arguments.box_uri(plan, text)
    scheme = uri.partition("://")[0]
    if scheme not in s3.SCHEMES:
        raise UsageError(f"{label}: a local run writes local folders, box paths, s3:// and "
                         "minio:// URIs only")
    location = s3.Location.parse(uri)
    box, inside = resolver.box_of(location.uri)
    if box is not None and (os.path.isdir(box.folder) or resolver.endpoint is None):
        if not inside:
            raise UsageError(f"{label}: that is the whole box '{box.name}'; choose a folder in it")
        path = os.path.realpath(s3.within(box.folder, inside, label))
        _check_local(path, label, protected, chosen, in_box=True)
        return Destination(key, label, path, path=path)
    for other in chosen:
        if other.location is not None and _nested_keys(other.location, location):
            raise UsageError(f"{label} and {other.label}: one holds the other; use separate "
                             "prefixes")
    for read, what in protected.remote_inputs.items():
        if _nested_keys(s3.Location.parse(read), location):
            raise UsageError(f"{label}: {location.uri} overlaps {what} ({read}), which the run "
                             "reads; choose another prefix")
    return Destination(key, label, location.uri, location=location)


def _check_local(
    path: str, label: str, protected: Protected, chosen: Sequence[Destination], *, in_box: bool
) -> None:
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError(f"{label}: {path} exists and is not a folder")
    for other in chosen:
        if other.path and _overlap(path, other.path):
            raise UsageError(f"{label} and {other.label}: one folder holds the other; give "
                             "each output its own, separate folder")
    workdir = os.path.realpath(protected.workdir)
    if _inside(workdir, path):
        raise UsageError(f"{label}: {path} holds the module folder {workdir}; choose a "
                         "folder inside it (e.g. ./results) or elsewhere")
    for source, what in protected.inputs.items():
        if _overlap(path, os.path.realpath(source)):
            raise UsageError(f"{label}: {path} overlaps {what} ({source}), which the run "
                             "reads; choose another folder")
    for source in protected.sources:
        if _overlap(path, os.path.realpath(source)):
            raise UsageError(f"{label}: {path} overlaps the manifests or package {source}; "
                             "choose another folder")
    state = os.path.realpath(protected.state_dir)
    boxes = os.path.join(state, "boxes")
    if _overlap(path, state) and not (in_box and path != boxes and _inside(path, boxes)):
        raise UsageError(f"{label}: {path} overlaps {state}, where local runs and boxes live; "
                         "choose another folder")


def _check_remote(chosen: Sequence[Destination], resolver: DataResolver, force: bool) -> None:
    """S3 destinations: reachable, and empty unless forced (before anything runs)."""
    remote = [d for d in chosen if d.location is not None]
    if not remote:
        return
    if resolver.endpoint is None:
        raise UsageError(
            f"{remote[0].label}: {remote[0].shown} is in S3: set {s3.ENDPOINT_ENV} (or "
            "--s3-endpoint, or s3.endpoint in unip-kfp.yaml) and AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY to write it, or give a local folder"
        )
    s3.credentials()
    client = s3.S3(resolver.endpoint)
    for item in remote:
        assert item.location is not None
        client.check_folder(item.location, f"checking {item.shown}/")
        existing = client.names(item.location, f"checking {item.shown}/")
        if existing and not force:
            raise UsageError(
                f"{item.label}: {item.shown}/ already holds {len(existing)} object(s); choose "
                "another destination, or pass --force to replace them after the run succeeds"
            )


def publish(
    item: Destination, source: str, endpoint: s3.Endpoint | None, echo: Callable[[str], None]
) -> None:
    """Put the output at `source` where `item` says, replacing what was there."""
    if item.location is None:
        _replace_folder(source, item.path, echo)
    else:
        assert endpoint is not None
        _upload(source, item.location, s3.S3(endpoint))


def _replace_folder(source: str, dest: str, echo: Callable[[str], None]) -> None:
    """A full copy beside `dest`, then renames: `dest` is old or new, never half-written."""
    parent, name = os.path.split(dest)
    os.makedirs(parent, exist_ok=True)
    tag = secrets.token_hex(4)
    fresh = os.path.join(parent, f".{name}.unip-kfp-new-{tag}")
    try:
        if os.path.isdir(source):
            shutil.copytree(source, fresh, symlinks=True)
        else:
            os.mkdir(fresh)
            shutil.copy2(source, os.path.join(fresh, os.path.basename(source)))
        _swap(fresh, dest, os.path.join(parent, f".{name}.unip-kfp-old-{tag}"), echo)
    finally:
        remove_tree(fresh)


def _renamed(source: str, target: str) -> bool:
    """Rename; False where the OS refuses it for this place (a mount point, another
    filesystem, a protected folder), so the caller copies instead."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.EXDEV, errno.EPERM):
            raise
        return False
    return True


def _swap(fresh: str, dest: str, old: str, echo: Callable[[str], None]) -> None:
    if not os.path.lexists(dest) or (os.path.isdir(dest) and not os.listdir(dest)):
        if not _renamed(fresh, dest):
            _fill(fresh, dest, echo)
        return
    if not _renamed(dest, old):
        _fill(fresh, dest, echo)
        return
    try:
        os.rename(fresh, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    remove_tree(old)


def _fill(fresh: str, dest: str, echo: Callable[[str], None]) -> None:
    """`dest` cannot be renamed (a mount point): replace its content in place."""
    echo(f"unip-kfp: note: {dest} cannot be replaced by a rename; its content is replaced "
         "in place")
    for entry in os.listdir(dest):
        full = os.path.join(dest, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            remove_tree(full)
        else:
            os.unlink(full)
    shutil.copytree(fresh, dest, symlinks=True, dirs_exist_ok=True)


def _upload(source: str, location: s3.Location, client: s3.S3) -> None:
    """Every file under `source` (or the file) to `location`, then stale objects removed."""
    existing = set(client.names(location, f"listing {location.uri}/"))
    if os.path.isdir(source):
        files = []
        for folder, dirs, names in os.walk(source):
            dirs.sort()
            files += [os.path.join(folder, n) for n in sorted(names)]
    else:
        files = [source]
    base = source if os.path.isdir(source) else os.path.dirname(source)
    written = set()
    for path in files:
        relative = os.path.relpath(path, base).replace(os.sep, "/")
        target = location.child(relative)
        with client.errors(f"uploading {path} to {target.uri}"):
            client.client.fput_object(target.bucket, target.key, path)
        written.add(relative)
    stale = sorted(existing - written)
    if stale:
        _remove(client, location, stale)


def _remove(client: s3.S3, location: s3.Location, names: list[str]) -> None:
    from minio.deleteobjects import DeleteObject

    with client.errors(f"removing old objects under {location.uri}/"):
        failures = list(client.client.remove_objects(
            location.bucket, [DeleteObject(location.child(n).key) for n in names]))
    if failures:
        raise UnreachableError(
            f"S3 at {client.endpoint.url} did not delete {len(failures)} old object(s) under "
            f"{location.uri}/ (first: {failures[0].name}: {failures[0].message})"
        )


def _overlap(a: str, b: str) -> bool:
    return _inside(a, b) or _inside(b, a)


def _inside(path: str, folder: str) -> bool:
    """`path` is `folder` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _nested_keys(a: s3.Location, b: s3.Location) -> bool:
    if a.bucket != b.bucket:
        return False
    return not a.key or not b.key or _inside(a.key, b.key) or _inside(b.key, a.key)

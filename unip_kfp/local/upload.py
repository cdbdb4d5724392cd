"""An output folder as the KFP 2.17 launcher uploads it, applied in place after a stage.

On Kubeflow, what a later stage (or `-o`) gets of an output is what the launcher uploaded
(`objectstore.UploadBlob`, backend/src/v2/objectstore/object_store.go at 2.17.0): it walks
the folder depth-first in name order and uploads *files* only, opening each entry that is
not a folder, so:

- a link to a file is followed: the file's content is uploaded under the link's name;
- a link to a folder cannot be read as a file: the upload fails, and the task fails;
- a link to nothing fails with "not exist", which the launcher tolerates (it allows
  missing outputs): the upload stops right there and the task succeeds, so every entry
  after that link (in that walk) is missing from the output;
- an empty folder holds no file: nothing of it is uploaded.

A local run does the same to the stage's output folder, with one difference: a link that
leaves the output folder is never followed (a local run never copies this machine's files
through a link; in a pod it would read the container's). Such a link, like a link to a
folder, a link that cannot be resolved, or a special file, fails the stage with a message
that says why. Nothing here ever follows a link to read or write outside the output.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass, field

__all__ = ["UploadError", "upload_in_place"]


class UploadError(Exception):
    """The output cannot be uploaded as it is (the stage fails)."""


@dataclass
class _Walk:
    root: str
    real_root: str
    name: str
    kept: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)
    stopped_at: str | None = None


def upload_in_place(path: str, name: str) -> list[str]:
    """Make the output at `path` what the launcher would upload; returns warnings."""
    if os.path.islink(path):
        return _root_link(path, name)
    if not os.path.exists(path):
        os.makedirs(path)  # the launcher allows missing outputs: the next stage gets nothing
        return []
    if not os.path.isdir(path):
        _check_special(path, os.path.basename(path), name)
        return []
    walk = _Walk(path, os.path.realpath(path), name)
    _visit(walk, path)
    for link, real in walk.links:
        fresh = link + ".unip-kfp-upload"
        shutil.copyfile(real, fresh)
        os.replace(fresh, link)
    stopped = walk.stopped_at
    target = os.readlink(os.path.join(path, stopped)) if stopped else ""
    dropped = _drop_unkept(walk)
    if stopped is None:
        return []
    dropped -= 1  # the link itself
    return [
        f"output '{name}': {stopped} is a link to nothing ({target}); as the KFP 2.17 "
        f"launcher does, the upload stops there and the stage succeeds: {dropped} later "
        "file(s) are left out of the output"
    ]


def _root_link(path: str, name: str) -> list[str]:
    target = os.readlink(path)
    if os.path.exists(path):
        raise UploadError(
            f"output '{name}': the output folder was replaced by a link to {target}; a local "
            "run never copies this machine's files through a link: write the files themselves"
        )
    os.unlink(path)
    os.makedirs(path)
    return [f"output '{name}': the output folder is a link to nothing ({target}): it is empty"]


def _visit(walk: _Walk, folder: str) -> bool:
    """Depth-first in byte order of names, as Go's os.ReadDir; False once the upload stops."""
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda e: os.fsencode(e.name))
    for entry in entries:
        relative = os.path.relpath(entry.path, walk.root)
        if entry.is_dir(follow_symlinks=False):
            if not _visit(walk, entry.path):
                return False
            continue
        if entry.is_symlink():
            real = _follow(walk, entry.path, relative)
            if real is None:
                walk.stopped_at = relative
                return False
            walk.links.append((entry.path, real))
        else:
            _check_special(entry.path, relative, walk.name)
        walk.kept.add(relative)
    return True


def _follow(walk: _Walk, link: str, relative: str) -> str | None:
    """Where a link leads (a file inside the output), None for a link to nothing."""
    target = os.readlink(link)
    try:
        info = os.stat(link)
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = "it loops" if exc.errno == errno.ELOOP else exc.strerror
        raise UploadError(
            f"output '{walk.name}': {relative} is a link to {target} that cannot be followed "
            f"({reason}); the KFP 2.17 launcher fails on it"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise UploadError(
            f"output '{walk.name}': {relative} is a link to a folder ({target}); the KFP 2.17 "
            "launcher uploads files only and fails on it: copy the folder into the output"
        )
    real = os.path.realpath(link)
    if not real.startswith(walk.real_root.rstrip("/") + "/"):
        raise UploadError(
            f"output '{walk.name}': {relative} is a link to {target}, outside the output "
            "folder; a local run never copies this machine's files through a link (on "
            "Kubeflow the launcher would upload what it points to in the container): put the "
            "file itself in the output"
        )
    _check_special(real, relative, walk.name)
    return real


def _check_special(path: str, relative: str, name: str) -> None:
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = "named pipe" if stat.S_ISFIFO(mode) else "socket or device"
        raise UploadError(
            f"output '{name}': {relative} is a {kind}, not a file or folder; it cannot be "
            "uploaded"
        )


def _drop_unkept(walk: _Walk) -> int:
    """Remove what the launcher would not have uploaded; count the files removed."""
    dropped = 0
    for folder, dirs, files in os.walk(walk.root, topdown=False):
        for item in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, item)
            if os.path.relpath(full, walk.root) not in walk.kept:
                os.unlink(full)
                dropped += 1
        if folder != walk.root and not os.listdir(folder):
            os.rmdir(folder)  # no file in it: nothing of it is uploaded
    return dropped

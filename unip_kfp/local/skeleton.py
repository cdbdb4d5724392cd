"""A root folder that is the host's, except where `path:` targets go (namespaces only).

For each target, the existing folders above it are *mirrored*: created in the skeleton,
with every entry the host has there bound back into them (recursive bind mounts, so mounts
below stay visible), except the entry on the way to the target, which stays absent. A link
on the way is kept as a link, and the folders it leads to are mirrored as well. Chrooted
into the skeleton, a stage sees the host everywhere, and the wrapper creates each target in
the skeleton, inside the run folder: the host's own folders are never written to.

The bind mounts are written as fstab lines (`mount --all --fstab`); names are mangled as
libmount unmangles them (`\\ooo` for every byte that is not plainly safe).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable

__all__ = ["Skeleton", "mangle"]

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-=,:@")
_MAX_LINKS = 40  # as the kernel's limit on links followed in one lookup


def mangle(path: str) -> str:
    """`path` as an fstab field: every byte outside a safe set as a `\\ooo` octal escape."""
    return "".join(chr(b) if b in _SAFE else f"\\{b:03o}" for b in os.fsencode(path))


class Skeleton:
    """The skeleton root of one stage, in its folder; `fstab()` binds the host back."""

    def __init__(self, root: str, stage_folder: str):
        self.root = root
        self.stage_folder = stage_folder
        self._binds: list[tuple[str, str]] = []

    def build(self, targets: Iterable[str]) -> None:
        """Create the mirrored folders and note what to bind; targets themselves stay absent."""
        mirrored: set[str] = set()
        absent: set[str] = set()
        for target in targets:
            _walk(posixpath.normpath(target), mirrored, absent)
        for folder in sorted(mirrored):
            self._mirror(folder, mirrored, absent)

    def fstab(self) -> list[str]:
        """Bind lines; those that hold the stage's folder first, so no bind copies another."""
        holds = [b for b in self._binds if _inside(self.stage_folder, b[0])]
        rest = [b for b in self._binds if b not in holds]
        return [
            f"{mangle(source)} {mangle(os.path.relpath(dest, self.stage_folder))} none rbind 0 0"
            for source, dest in holds + rest
        ]

    def _mirror(self, folder: str, mirrored: set[str], absent: set[str]) -> None:
        here = self.root + folder if folder != "/" else self.root
        os.makedirs(here, exist_ok=True)
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
        for name in names:
            host = posixpath.join(folder, name)
            if host in mirrored or host in absent:
                continue
            mine = os.path.join(here, name)
            if os.path.islink(host):
                os.symlink(os.readlink(host), mine)
                continue
            if os.path.isdir(host):
                os.mkdir(mine)
            else:
                with open(mine, "wb"):
                    pass
            self._binds.append((host, mine))


def _walk(target: str, mirrored: set[str], absent: set[str]) -> None:
    """Folders to mirror on the way to `target`, and the first entry that must stay absent."""
    pending = [target]
    followed = 0
    while pending:
        path = pending.pop()
        mirrored.add("/")
        current = "/"
        parts = [p for p in path.split("/") if p]
        for index, part in enumerate(parts):
            child = posixpath.join(current, part)
            last = index == len(parts) - 1
            if not last and os.path.islink(child) and followed < _MAX_LINKS:
                followed += 1  # the link stays; what it leads to is mirrored too
                rest = "/".join(parts[index + 1 :])
                pending.append(posixpath.join(os.path.realpath(child), rest))
                break
            if last or not os.path.isdir(child) or os.path.islink(child):
                absent.add(child)
                break
            mirrored.add(child)
            current = child


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")

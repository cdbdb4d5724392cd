"""Content hashes of files and folders, each file hashed once per content.

A stage's cache key (`reuse.py`) covers what its inputs hold, not where they are, so every
input is hashed: a folder by its names, kinds, executable bits and file bytes, in name
order. Hashing 1 GiB costs seconds, so a file's digest is remembered in a small SQLite
table by its identity, (device, inode, size, mtime in ns): a hard link to the same file, as
the run folder and the cache store share, is the same content and is not read again. Any
write changes the mtime, so a changed file is always read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading

__all__ = ["HashMemo", "content_hash"]

_CHUNK = 1 << 20
_ABSENT = "absent"


class HashMemo:
    """Digests of files by (device, inode, size, mtime_ns); shared by concurrent runs."""

    def __init__(self, path: str | None):
        self.path = path
        self._lock = threading.Lock()
        self._known: dict[tuple[int, int, int, int], str] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("CREATE TABLE IF NOT EXISTS files (dev INTEGER, ino INTEGER, "
                             "size INTEGER, mtime INTEGER, digest TEXT, "
                             "PRIMARY KEY (dev, ino, size, mtime))")

    def file_digest(self, path: str, info: os.stat_result) -> str:
        """The sha256 of a regular file's bytes, read only when its identity is new."""
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            known = self._known.get(identity) or self._lookup(identity)
        if known is not None:
            return known
        digest = _read_digest(path)
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
            return _read_digest(path)  # written while read: do not remember either
        with self._lock:
            self._known[identity] = digest
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                                 (*identity, digest))
        return digest

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _lookup(self, identity: tuple[int, int, int, int]) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT digest FROM files WHERE dev=? AND ino=? AND size=? AND mtime=?", identity
        ).fetchone()
        if row is not None:
            self._known[identity] = row[0]
        return None if row is None else str(row[0])


def content_hash(path: str | None, memo: HashMemo) -> str:
    """A digest of what `path` holds (file or folder, names and bytes); `absent` for None."""
    if path is None or not os.path.lexists(path):
        return _ABSENT
    outer = hashlib.sha256()
    for record in _records(path, "", memo):
        outer.update(record.encode("utf-8", "surrogateescape") + b"\n")
    return outer.hexdigest()


def _records(path: str, name: str, memo: HashMemo) -> list[str]:
    """One record per entry: kind, executable bit, relative name, content or link target."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return [_record("l", name, os.readlink(path))]
    if stat.S_ISREG(info.st_mode):
        executable = "x" if info.st_mode & stat.S_IXUSR else "-"
        return [_record(f"f{executable}", name, memo.file_digest(path, info))]
    if not stat.S_ISDIR(info.st_mode):
        return [_record("o", name, str(stat.S_IFMT(info.st_mode)))]
    found = [_record("d", name, "")]
    with os.scandir(path) as entries:
        names = sorted(entry.name for entry in entries)
    for child in names:
        found += _records(os.path.join(path, child), f"{name}/{child}" if name else child, memo)
    return found


def _record(kind: str, name: str, value: str) -> str:
    """One line; JSON quoting keeps any name (spaces, newlines) apart from the next field."""
    return json.dumps([kind, name, value], ensure_ascii=False)


def _read_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

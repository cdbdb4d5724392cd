"""The store of reusable stage results: `<module>/.unip-kfp/cache/`, one entry per key.

An entry is `entries/<key>/`: `entry.json` (the stage, the run that made it, each output's
content hash) and `outputs/<output>`. Files are hard links of the run's outputs where the
filesystem allows (copies otherwise), so storing 1 GiB costs no copy; each stage sees its
inputs through its own view (`sandbox.py`), so no stage can change a stored file. Anything
else that does (an edited file in a kept run folder) is caught: an entry is used only after
its outputs hash to what `entry.json` says, and is dropped otherwise.

Concurrent runs of one module share the store: an entry appears by one rename (built in
`tmp/` first, the first writer wins) and `flock` on `lock` keeps `prune` and the removal of
a bad entry away from a run that is linking an entry's files into its own folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .contenthash import HashMemo, content_hash
from .stage import safe_name

__all__ = ["CacheEntry", "CacheStore", "link_tree"]

_VERSION = 1


@dataclass(frozen=True)
class CacheEntry:
    """One stored stage result; `digests` by output key, `used` is when a run last reused it."""

    key: str
    folder: str
    stage: str
    pipeline: str
    run_id: str
    created: float
    used: float
    size: int
    digests: Mapping[str, str]

    def output_path(self, output: str) -> str:
        return os.path.join(self.folder, "outputs", safe_name(output))


class CacheStore:
    """Entries under `root` (`.unip-kfp/cache`), with the file-hash memo beside them."""

    def __init__(self, root: str):
        self.root = root
        self.entries_dir = os.path.join(root, "entries")
        self.tmp_dir = os.path.join(root, "tmp")
        for folder in (self.entries_dir, self.tmp_dir):
            os.makedirs(folder, exist_ok=True)
        self.memo = HashMemo(os.path.join(root, "hashes.sqlite"))

    @contextlib.contextmanager
    def locked(self, *, shared: bool) -> Iterator[None]:
        """Readers share the store; pruning and removals have it alone."""
        with open(os.path.join(self.root, "lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self, key: str) -> CacheEntry | None:
        """The entry as `entry.json` describes it; None when absent or unreadable."""
        folder = os.path.join(self.entries_dir, key)
        try:
            with open(os.path.join(folder, "entry.json"), encoding="utf-8") as handle:
                data = json.load(handle)
            used = os.stat(os.path.join(folder, "used")).st_mtime
            return CacheEntry(key, folder, str(data["stage"]), str(data["pipeline"]),
                              str(data["run_id"]), float(data["created"]), used,
                              int(data["size"]), dict(data["outputs"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def problem(self, entry: CacheEntry) -> str | None:
        """Why the entry cannot be used (an output differs from its stored hash), else None."""
        for output, digest in sorted(entry.digests.items()):
            if content_hash(entry.output_path(output), self.memo) != digest:
                return f"output '{output}' no longer matches its stored hash"
        return None

    def restore(self, entry: CacheEntry, paths: Mapping[str, str]) -> None:
        """Hand the entry's outputs to a run: each output key's stored data at its path."""
        for output, path in paths.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            link_tree(entry.output_path(output), path)
        os.utime(os.path.join(entry.folder, "used"))

    def store(self, key: str, outputs: Mapping[str, str], *, stage: str, pipeline: str,
              run_id: str) -> bool:
        """Keep a succeeded stage's outputs under `key`; False if another run stored it first."""
        building = os.path.join(self.tmp_dir, f"{key}.{secrets.token_hex(4)}")
        try:
            digests, size = {}, 0
            for output, path in sorted(outputs.items()):
                stored = os.path.join(building, "outputs", safe_name(output))
                os.makedirs(os.path.dirname(stored), exist_ok=True)
                link_tree(path, stored)
                digests[output] = content_hash(stored, self.memo)
                size += _size(stored)
            record = {"version": _VERSION, "stage": stage, "pipeline": pipeline,
                      "run_id": run_id, "created": time.time(), "size": size,
                      "outputs": digests}
            with open(os.path.join(building, "entry.json"), "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=1)
            open(os.path.join(building, "used"), "wb").close()
            return self._publish(building, key)
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def _publish(self, building: str, key: str) -> bool:
        """One rename makes the entry; an unreadable leftover under the key is replaced."""
        final = os.path.join(self.entries_dir, key)
        for _ in range(2):
            with self.locked(shared=True):
                try:
                    os.rename(building, final)
                    return True
                except OSError:
                    if self.read(key) is not None:
                        return False  # another run stored the same result first
            with self.locked(shared=False):
                if self.read(key) is None:
                    _discard(final, self.tmp_dir)
        return False

    def remove(self, entry: CacheEntry) -> None:
        """Drop an entry (held alone: no run is linking its files meanwhile)."""
        with self.locked(shared=False):
            current = self.read(entry.key)
            if current is not None and current.created != entry.created:
                return  # replaced meanwhile by a fresh one
            _discard(entry.folder, self.tmp_dir)

    def entries(self) -> list[CacheEntry]:
        """Every readable entry, least recently used first."""
        try:
            keys = sorted(os.listdir(self.entries_dir))
        except OSError:
            return []
        found = [entry for key in keys for entry in [self.read(key)] if entry is not None]
        return sorted(found, key=lambda e: (e.used, e.key))

    def prune(self, *, older_than: float | None, max_size: int | None) -> list[CacheEntry]:
        """Remove entries unused for `older_than` seconds, then the least recently used
        until the store holds at most `max_size` bytes; both None: everything."""
        removed: list[CacheEntry] = []
        with self.locked(shared=False):
            entries = self.entries()
            now = time.time()
            total = sum(e.size for e in entries)
            for entry in entries:
                old = older_than is not None and now - entry.used > older_than
                big = max_size is not None and total > max_size
                if old or big or (older_than is None and max_size is None):
                    _discard(entry.folder, self.tmp_dir)
                    total -= entry.size
                    removed.append(entry)
        return removed

    def close(self) -> None:
        self.memo.close()


def link_tree(source: str, dest: str) -> None:
    """`dest` gets what `source` holds: hard links where allowed, else copies."""
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.copytree(source, dest, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(source, dest)


def _link_or_copy(source: str, dest: str) -> str:
    if os.path.islink(source):
        os.symlink(os.readlink(source), dest)
        return dest
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
    return dest


def _size(path: str) -> int:
    if not os.path.isdir(path):
        return os.lstat(path).st_size
    return sum(os.lstat(os.path.join(root, name)).st_size
               for root, _, files in os.walk(path) for name in files)


def _discard(folder: str, tmp_dir: str) -> None:
    """Rename out of `entries/` first, so a half-removed entry is never read."""
    doomed = os.path.join(tmp_dir, f"removing.{secrets.token_hex(4)}")
    try:
        os.rename(folder, doomed)
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)

"""Each stage in a world of its own, as in its pod: private input views, literal `path:`s.

A pod works on its own downloaded copy of every input, so nothing it does to them reaches
the data's owner or another pod. Here each stage gets the same promise cheaply: in a private
user and mount namespace (`unshare`, util-linux), every input is an overlayfs view whose
lower layer is the data itself (the user's file or folder, a box folder, an earlier stage's
output) and whose upper layer is in the stage's folder in the run. Handing over 1 GiB costs
one mount, not a copy. A single file is viewed through a folder holding a hard link to it
(a copy when the link is refused). Where namespaces are unavailable, each input is copied
instead (reflinks where the filesystem has them), and `Isolation.note` says what that costs.

`path:` targets: a stage whose records name absolute targets runs in a copy of the root
folder's skeleton (`skeleton.py`): the folders above each target are mirrored in the stage's
folder, everything else is the host's (recursive bind mounts), and the stage is chrooted
there. The wrapper then creates each target at its literal path, and nothing is created,
replaced or deleted on the host outside the run folder.

The stage itself runs with no capabilities and `no_new_privs`, as the 2.17 backend's pods
do (`capabilities: drop: [ALL]`, `allowPrivilegeEscalation: false`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from .skeleton import Skeleton, mangle

__all__ = ["ISOLATION_ENV", "Isolation", "StageBox", "choose_isolation", "remove_tree"]

ISOLATION_ENV = "UNIP_KFP_LOCAL_ISOLATION"
"""`copy` forces the copy fallback (tests, benchmarks); `auto` (default) probes namespaces."""

_FICLONE = 0x40049409  # ioctl: share the source's blocks (btrfs, xfs, bcachefs...)
_SEARCH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs as the namespace's first process: mount what the runner prepared, drop every
# capability, start the stage. Paths are arguments, never part of the script.
NAMESPACE_SCRIPT = r"""set -u
mount=$1 setpriv=$2 unshare=$3 folder=$4 root=$5 wd=$6
shift 6
cd -- "$folder" || exit 97
if [ -s ./fstab ] && ! "$mount" --all --fstab ./fstab; then
  echo "unip-kfp: cannot mount the stage's inputs (UNIP_KFP_LOCAL_ISOLATION=copy: copies)" >&2
  exit 97
fi
set -- "$setpriv" --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"
if [ -n "$root" ]; then
  exec "$unshare" --root="$root" --wd="$wd" "$@"
fi
cd -- "$wd" || exit 97
exec "$@"
"""


@dataclass
class Isolation:
    """How this run keeps stages apart; `copied` counts what the copy fallback cost."""

    mode: str  # "namespace" | "copy"
    reason: str = ""
    volatile: bool = True
    """Views mounted `volatile` (kernel >= 5.10): overlayfs then skips syncing the
    filesystem of the stage's (throwaway) changes, which would first flush a large output
    just written by the previous stage (0.5 s for 1 GiB here)."""
    tools: dict[str, str] = field(default_factory=dict)
    copied_bytes: int = 0
    copy_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def namespaces(self) -> bool:
        return self.mode == "namespace"

    def note(self) -> str:
        """Said once at the start of a run that falls back to copies."""
        return (
            f"unip-kfp: note: no private mount namespaces here ({self.reason}): each stage "
            "gets a copy of its inputs (reflinks where the filesystem has them), which costs "
            "time and disk space in proportion to their size, and path: targets are placed "
            "under the run folder instead of at their literal paths"
        )

    def summary(self) -> str:
        size = self.copied_bytes / 2**20
        copies = f"{size:.1f} MiB of inputs copied in {self.copy_seconds:.2f} s"
        if not self.namespaces:
            return f"isolation: copies ({copies})"
        views = "isolation: private mount namespaces (inputs as overlay views"
        return views + (f"; {copies} where a view was not possible)" if size else ")")

    def count(self, size: int, seconds: float) -> None:
        with self._lock:
            self.copied_bytes += size
            self.copy_seconds += seconds


def choose_isolation(scratch: str) -> Isolation:
    """Namespaces when they work here (probed in `scratch`, inside the run folder), else copies."""
    if os.environ.get(ISOLATION_ENV, "auto").strip().lower() == "copy":
        return Isolation("copy", f"{ISOLATION_ENV}=copy")
    tools = {name: shutil.which(name, path=os.environ.get("PATH", "") + ":" + _SEARCH)
             for name in ("unshare", "mount", "setpriv", "sh")}
    missing = sorted(name for name, path in tools.items() if not path)
    if missing:
        return Isolation("copy", f"{', '.join(missing)} not found")
    found = {name: str(path) for name, path in tools.items()}
    device = os.stat(os.path.dirname(os.path.abspath(scratch))).st_dev
    key = (device, tuple(sorted(found.items())))
    if key not in _PROBED:  # overlayfs needs the run folder's filesystem: probed once per one
        _PROBED[key] = _probe(found, scratch)
    volatile, reason = _PROBED[key]
    if reason:
        return Isolation("copy", reason)
    return Isolation("namespace", tools=found, volatile=volatile)


_PROBED: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[bool, str]] = {}


def _probe(tools: dict[str, str], scratch: str) -> tuple[bool, str]:
    """(volatile?, '') when an overlay view works in a private namespace, else why not."""
    reason = ""
    data = os.path.join(scratch, "data")
    try:
        os.makedirs(data)
        for volatile in (True, False):
            isolation = Isolation("namespace", tools=tools, volatile=volatile)
            box = StageBox(isolation, os.path.join(scratch, str(volatile)), scratch)
            try:
                box.view(data)
                done = subprocess.run(box.command(["true"]), capture_output=True, text=True,
                                      timeout=20, stdin=subprocess.DEVNULL)
            finally:
                box.close()
            if done.returncode == 0:
                return volatile, ""
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            reason = lines[0] if lines else f"the probe exited with {done.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    finally:
        remove_tree(scratch)
    return False, reason


def _namespace_argv(
    tools: dict[str, str], folder: str, root: str, workdir: str, argv: Sequence[str]
) -> list[str]:
    return [
        tools["unshare"], "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}",
        "--keep-caps", "--mount", "--propagation", "private",
        tools["sh"], "-c", NAMESPACE_SCRIPT, "unip-ns",
        tools["mount"], tools["setpriv"], tools["unshare"], folder, root, workdir, *argv,
    ]  # fmt: skip


class StageBox:
    """One stage's folder in the run: its input views, its skeleton root, its command."""

    def __init__(self, isolation: Isolation, folder: str, workdir: str, run_dir: str = ""):
        self.isolation = isolation
        self.folder = folder
        self.workdir = workdir
        self.run_dir = run_dir
        self._views = 0
        self._mounts: list[str] = []
        self._skeleton: Skeleton | None = None
        os.makedirs(folder)

    def view(self, source: str) -> str:
        """The path at which the stage sees `source`: its own writable view of it."""
        index = str(self._views)
        self._views += 1
        name = os.path.basename(source.rstrip("/")) or "root"
        place = os.path.join(self.folder, "in", index)
        os.makedirs(place)
        path = os.path.join(place, name)
        if not os.path.exists(source):
            return path  # the wrapper makes an empty folder of a missing input, as in a pod
        if not self.isolation.namespaces or _holds(source, self.folder):
            # a copy: no namespaces, or the data holds this run (overlayfs refuses to work
            # with an upper layer inside its lower one); the run itself is left out
            began = time.perf_counter()
            size = copy_data(source, path, skip=self.run_dir)
            self.isolation.count(size, time.perf_counter() - began)
            return path
        lower = os.path.join(self.folder, "lower", index)
        os.makedirs(os.path.dirname(lower), exist_ok=True)
        if os.path.isdir(source):
            os.symlink(os.path.abspath(source), lower)
            os.mkdir(path)
            mount_at = path
        else:  # a folder holding just this file is the lower layer
            os.mkdir(lower)
            _link_or_copy(source, os.path.join(lower, name))
            mount_at = place
        for sub in ("u", "w"):
            os.makedirs(os.path.join(self.folder, "scratch", sub + index))
        relative = os.path.relpath(mount_at, self.folder)
        options = f"lowerdir=lower/{index},upperdir=scratch/u{index},workdir=scratch/w{index}"
        options += ",volatile" if self.isolation.volatile else ""
        self._mounts.append(f"overlay {mangle(relative)} overlay {options} 0 0")
        return path

    def place_targets(self, targets: Sequence[str]) -> None:
        """Show `targets` at their literal paths (namespaces only): build the skeleton root."""
        if targets and self.isolation.namespaces:
            self._skeleton = Skeleton(os.path.join(self.folder, "root"), self.folder)
            self._skeleton.build(targets)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` as it must start: in its own namespace, when this run has them."""
        if not self.isolation.namespaces:
            return list(argv)
        lines = list(self._mounts) + (self._skeleton.fstab() if self._skeleton else [])
        with open(os.path.join(self.folder, "fstab"), "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        root = self._skeleton.root if self._skeleton else ""
        return _namespace_argv(self.isolation.tools, self.folder, root, self.workdir, argv)

    def close(self) -> None:
        """Remove the views, layers and skeleton (the namespace and its mounts are gone)."""
        remove_tree(self.folder)


def _holds(folder: str, path: str) -> bool:
    real, inner = os.path.realpath(folder), os.path.realpath(path)
    return inner == real or inner.startswith(real.rstrip("/") + "/")


def copy_data(source: str, dest: str, skip: str = "") -> int:
    """Copy a file or folder (links stay links); reflinks where possible. Returns bytes.

    `skip` (a folder inside `source`, e.g. the run folder when the input is the module
    folder) is left out, so a copy never copies itself.
    """
    if not os.path.isdir(source):
        return _copy_file(source, dest)
    total = 0

    def copy(src: str, dst: str) -> str:
        nonlocal total
        total += _copy_file(src, dst)
        return dst

    real_skip = os.path.realpath(skip) if skip else ""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n == os.path.basename(real_skip)
                and os.path.realpath(os.path.join(folder, n)) == real_skip]

    shutil.copytree(source, dest, symlinks=True, copy_function=copy, ignore=ignore)
    return total


def _copy_file(source: str, dest: str) -> int:
    with open(source, "rb") as src, open(dest, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError:
            _sendfile(src, dst)
    shutil.copymode(source, dest)
    with contextlib.suppress(OSError):
        shutil.copystat(source, dest)
    return os.path.getsize(dest)


def _sendfile(src: BinaryIO, dst: BinaryIO) -> None:
    """In-kernel copy of a whole file (no reflink available)."""
    in_fd, out_fd = src.fileno(), dst.fileno()
    size = os.fstat(in_fd).st_size
    offset = 0
    while offset < size:
        try:
            sent = os.sendfile(out_fd, in_fd, offset, min(size - offset, 1 << 30))
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS):
                raise
            os.lseek(in_fd, offset, os.SEEK_SET)
            shutil.copyfileobj(src, dst, 1024 * 1024)
            return
        if sent == 0:
            break
        offset += sent


def _link_or_copy(source: str, dest: str) -> None:
    """A hard link (the overlay copies up on the first write), else a copy."""
    try:
        os.link(source, dest)
    except OSError:
        _copy_file(source, dest)


def remove_tree(path: str) -> None:
    """`rm -rf`, also through folders overlayfs left without permissions."""

    def retry(function: object, failed: str, info: object) -> None:
        with contextlib.suppress(OSError):
            parent = os.path.dirname(failed)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=retry)

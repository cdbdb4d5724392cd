"""Stage processes: start each in its own session, stream its output, stop its whole group.

A stage runs as the leader of a new process group (`start_new_session`), so everything it
starts can be signalled at once. Its stdout and stderr are merged, saved to its log file
and echoed line by line with a `[stage] ` prefix. When the stage's main process exits, what
is left of its group is killed, as a container's processes die with the container. Stopping
(Ctrl-C, SIGTERM, a failure elsewhere) sends SIGTERM to every running group, then SIGKILL to
those still alive after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import IO

__all__ = [
    "Finished",
    "Supervisor",
    "Terminated",
    "ignoring_signals",
    "signal_name",
    "stop_on_signals",
]

GRACE_SECONDS = 5.0
_MAX_LINE = 64 * 1024


class Terminated(Exception):
    """The runner itself received SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclass(frozen=True)
class Finished:
    """How a stage process ended: its exit status (negative: killed by that signal)."""

    returncode: int
    started: float
    finished: float

    @property
    def signal_name(self) -> str | None:
        return signal_name(-self.returncode) if self.returncode < 0 else None


def signal_name(number: int) -> str:
    """`SIGTERM` for 15, and so on."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Supervisor:
    """Starts stage processes and can stop all of them; no start after `stop()`."""

    def __init__(self, grace: float = GRACE_SECONDS):
        self.grace = grace
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        log_path: str,
        echo: Callable[[str], None],
        on_start: Callable[[int], None] | None = None,
    ) -> Finished | None:
        """Run one stage to its end; None when stopping began before it could start."""
        with open(log_path, "wb") as log:
            with self._lock:
                if self._stopping:
                    return None
                started = time.time()
                process = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
                self._running[process.pid] = process
            if on_start is not None:
                on_start(process.pid)
            reader = threading.Thread(
                target=_pump, args=(process, log, echo), name=f"log-{process.pid}", daemon=True
            )
            reader.start()
            try:
                returncode = process.wait()
                finished = time.time()
            finally:
                _kill_group(process.pid, signal.SIGKILL)  # leftovers die with the "container"
                with self._lock:
                    self._running.pop(process.pid, None)
            reader.join(timeout=10)
        return Finished(returncode, started, finished)

    def stop(self) -> list[int]:
        """SIGTERM every running group, SIGKILL the survivors after the grace period."""
        with self._lock:
            self._stopping = True
            running = dict(self._running)
        for pid in running:
            _kill_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in running.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for pid in running:
            _kill_group(pid, signal.SIGKILL)
        return list(running)


def _kill_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _pump(process: subprocess.Popen[bytes], log: IO[bytes], echo: Callable[[str], None]) -> None:
    """Copy the stage's output to its log (as bytes) and to `echo` (as text lines).

    The pipe is always drained: if `echo` fails (a closed terminal), the log goes on, so
    the stage never blocks on a full pipe.
    """
    stream = process.stdout
    assert stream is not None
    echoing = True
    for line in iter(lambda: stream.readline(_MAX_LINE), b""):
        log.write(line)
        log.flush()
        if echoing:
            try:
                echo(line.decode("utf-8", errors="replace").rstrip("\r\n"))
            except Exception:  # the display is gone; the log still has everything
                echoing = False
    stream.close()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into `Terminated` in the main thread (SIGINT already raises).

    Without it, SIGTERM would end the runner at once and leave the stage's process group
    (in its own session, so untouched by the signal) running as orphans.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def ignoring_signals() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP while stopping, so a second signal cannot cut it short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)

"""`--real-paths`: `path:` targets at the host's own paths, checked first, put back after.

The explicit opt-in to let stages use this machine's real paths. Before anything runs,
every target of every stage must be absent or an empty folder; anything else is refused
(exit 2), each one named, so the run can never replace a file or folder of this machine.
After each stage, what the run created is removed again (an empty folder is put back), so
the next stage, and the next run, find the paths as they were.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import UsageError
from .package_reader import Package
from .records import package_targets
from .sandbox import remove_tree

__all__ = ["RealPaths"]


@dataclass(frozen=True)
class _Before:
    """A target before the run: an empty folder (with its mode), or absent."""

    empty_mode: int | None
    created_from: str | None
    """The highest missing folder on the way to an absent target (the run creates it)."""


class RealPaths:
    """The state of every target before the run, and how to put it back."""

    def __init__(self, before: dict[str, _Before]):
        self.before = before

    @classmethod
    def check(cls, package: Package) -> RealPaths:
        """Refuse (exit 2) every target that exists and is not an empty folder."""
        targets = sorted({t for c in package.containers()
                          for t in package_targets(list(c.command), list(c.args))})
        before: dict[str, _Before] = {}
        refused = []
        for target in targets:
            if not os.path.lexists(target):
                before[target] = _Before(None, _first_missing(target))
            elif os.path.isdir(target) and not os.path.islink(target) and not os.listdir(target):
                before[target] = _Before(stat.S_IMODE(os.stat(target).st_mode), None)
            else:
                refused.append(f"{target} ({_what(target)})")
        if refused:
            raise UsageError(
                "--real-paths would replace what this machine has at these path: targets: "
                + "; ".join(refused)
                + ". Move them away, or run without --real-paths (the targets are then shown "
                "at their paths in a private mount namespace, or placed in the run folder)"
            )
        return cls(before)

    def restore(self, targets: Iterable[str]) -> None:
        """Remove what a stage left at its targets; put empty folders back."""
        for target in targets:
            state = self.before.get(posixpath.normpath(target))
            if state is None:
                continue
            if os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    remove_tree(target)
                else:
                    os.unlink(target)
            if state.empty_mode is not None:
                os.mkdir(target, state.empty_mode)
            elif state.created_from and state.created_from != target:
                remove_tree(state.created_from)


def _first_missing(target: str) -> str:
    """The highest folder on the way to `target` that does not exist (maybe itself)."""
    current = "/"
    for part in [p for p in target.split("/") if p]:
        current = posixpath.join(current, part)
        if not os.path.lexists(current):
            return current
    return target


def _what(path: str) -> str:
    if os.path.islink(path):
        return f"a link to {os.readlink(path)}"
    if os.path.isdir(path):
        return "a folder that is not empty"
    return "a file" if os.path.isfile(path) else "a special file"

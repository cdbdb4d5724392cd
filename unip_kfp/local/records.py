"""Read the stage wrapper's records back from a container's command line (`compile/stage_wrapper`).

The local runner needs two things the records hold: the `path:` targets of each stage (to
show them at their literal paths, or to check them first with `--real-paths`), and which
container command lines are the wrapper's at all (packages built with the kfp DSL are not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..compile import stage_wrapper
from .expansion import expand

__all__ = ["package_targets", "targets"]


def targets(argv: Sequence[str]) -> list[str]:
    """The absolute targets of a resolved wrapper command line (none for other commands)."""
    records = stage_wrapper.records_of(argv)
    return [] if records is None else list(stage_wrapper.record_targets(records))


def package_targets(command: Sequence[Any], args: Sequence[Any]) -> list[str]:
    """The targets written in a container spec (before placeholders), as the shell gets them."""
    line = [expand(item, {}) if isinstance(item, str) else item
            for item in _flatten([*command, *args])]
    records = stage_wrapper.records_of(line)
    return [] if records is None else list(stage_wrapper.record_targets(records))


def _flatten(items: Sequence[Any]) -> Iterator[Any]:
    """Args with `IfPresent` placeholders opened (their `Then` branch, where records sit)."""
    for item in items:
        structured = item
        if isinstance(item, str) and item.startswith('{"IfPresent"'):
            try:
                structured = json.loads(item)
            except ValueError:
                structured = item
        if isinstance(structured, dict) and "IfPresent" in structured:
            then = structured["IfPresent"].get("Then") or []
            yield from _flatten(then if isinstance(then, list) else [then])
        else:
            yield item

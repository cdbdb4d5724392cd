"""The end-of-run summary: a table of stages, then where each output is."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .result import LocalRunResult, StageResult

__all__ = ["summary_lines"]

_LISTED_FILES = 10


def summary_lines(result: LocalRunResult, outcome: str) -> list[str]:
    """Lines to print at the end of a run (success or not)."""
    lines = [
        f"unip-kfp: run {result.run_id} of '{result.pipeline}' {outcome} in {result.duration:.2f} s"
    ]
    lines += _table(result.stages, with_logs=result.kept)
    if result.outputs or result.copied:
        lines.append("outputs:")
        for name, folder in result.outputs.items():
            copy = result.copied.get(name)
            if copy is None and not result.kept:
                continue
            if copy is None:
                lines.append(f"  {name}: {folder} (in the run folder)")
            elif result.kept:
                lines.append(f"  {name}: {copy} (copied from {folder})")
            else:
                lines.append(f"  {name}: {copy}")
            listed = copy if copy and os.path.exists(copy) else folder
            if os.path.exists(listed):  # an S3 destination is not listed here
                lines += [f"    {path}" for path in _files(listed)]
    lines += [note for note in result.notes if note]
    if result.kept:
        lines.append(f"run folder: {result.run_dir}")
    else:
        lines.append("run folder removed (every output was copied; --keep keeps it)")
    if result.report:
        lines.append(f"report: {result.report}")
    return lines


def _table(stages: Sequence[StageResult], *, with_logs: bool) -> list[str]:
    header = ["stage", "status", "duration", "exit"] + (["log"] if with_logs else [])
    rows = [header]
    for stage in stages:
        row = [
            stage.name,
            f"reused from {stage.reused_from}" if stage.reused_from else stage.status,
            f"{stage.duration:.2f} s" if stage.duration is not None else "-",
            str(stage.exit_code) if stage.exit_code is not None else "-",
        ]
        if with_logs:
            row.append(stage.log_path or "-")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _files(folder: str) -> list[str]:
    """The first files of an output folder (full paths), and how many more there are."""
    if os.path.isfile(folder):
        return [folder]
    found: list[str] = []
    total = 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            total += 1
            if len(found) < _LISTED_FILES:
                found.append(os.path.join(root, name))
    if total > len(found):
        found.append(f"... and {total - len(found)} more file(s)")
    if not found:
        found.append("(empty)")
    return found

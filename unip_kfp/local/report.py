"""The local run report: one self-contained HTML page per run, for a person to open.

`attach_report` writes `<workdir>/.unip-kfp/reports/<run-id>/report.html` when the run
ends (succeeded, failed or stopped) and returns the result naming it. It is written before
a successful run's folder is removed, so it keeps what the folder held: the tail of each
stage's log and the size of each output. It never goes into the user's output folders.
The page holds a timeline (start, duration, exit of each stage), the inputs and outputs
with their sizes, the logs, and the graph as an inline SVG (`views/graph_svg.py`: a few KB, where
inlining the Mermaid renderer would cost 3.5 MB a run); it has no script at all, and a
Content-Security-Policy keeps it offline. Every string from the manifests, the inputs and
the logs is escaped. A report that cannot be written is a note, never a failed run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..plan.model import Kind, PipelinePlan
from ..views import graph, graph_svg
from ..views.html_page import escape, page
from .arguments import RunArguments
from .data import DataResolver
from .result import LocalRunResult, StageResult, Status

__all__ = ["ReportContext", "attach_report", "render_report"]

LOG_LINES = 40
_LOG_BYTES = 64 * 1024
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")
_WALK_LIMIT = 10_000


@dataclass(frozen=True)
class ReportContext:
    """What the report needs besides the result: the plan and the run's inputs."""

    plan: PipelinePlan
    inputs: Mapping[str, Any]  # by variable name: a URI (files) or the value
    folder: str  # `<workdir>/.unip-kfp`, where `reports/` goes
    boxes: Mapping[str, str] = dataclasses.field(default_factory=dict)  # box URI -> folder
    sentinel: str = ""


def attach_report(
    result: LocalRunResult,
    *,
    plan: PipelinePlan,
    arguments: RunArguments,
    resolver: DataResolver,
    folder: str,
    echo: Callable[[str], None],
) -> LocalRunResult:
    """Write the report of `result` under `folder` (the workdir's `.unip-kfp`); return the
    same result with `report` set, or unchanged (and a note) if it could not be written."""
    inputs = {arguments.labels.get(k, k): v for k, v in arguments.values.items()}
    boxes = {box.uri: box.folder for box in resolver.boxes}
    context = ReportContext(plan, inputs, folder, boxes, plan.sentinel_uri)
    path = os.path.join(folder, "reports", result.run_id, "report.html")
    try:
        content = render_report(result, context)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(partial, path)
    except Exception as exc:  # the run's outcome matters more than its report
        echo(f"unip-kfp: note: no run report ({type(exc).__name__}: {exc})")
        return result
    return dataclasses.replace(result, report=path)


def render_report(result: LocalRunResult, context: ReportContext) -> str:
    """The whole HTML page."""
    plan = context.plan
    outcome = _outcome(result)
    started = min((s.started for s in result.stages if s.started), default=None)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "-"
    sections = [
        f"<h1>Run {escape(result.run_id)}</h1>",
        f'<p class="muted">pipeline <b>{escape(result.pipeline)}</b> · '
        f'<span class="{_css(outcome)}">{escape(outcome)}</span> · started {escape(when)} · '
        f"{result.duration:.2f} s</p>",
        "<h2>Timeline</h2>",
        _timeline(result.stages),
        _stage_table(result.stages, kept=result.kept),
        "<h2>Inputs</h2>",
        _inputs(context),
        "<h2>Outputs</h2>",
        _outputs(result, plan),
        "<h2>Graph</h2>",
        _graph(plan),
        "<h2>Logs</h2>",
        *(_log(stage) for stage in result.stages),
    ]
    if result.notes:
        notes = "".join(f"<li>{escape(note)}</li>" for note in result.notes if note)
        sections += ["<h2>Notes</h2>", f"<ul>{notes}</ul>"]
    title = f"{result.pipeline} · run {result.run_id} · {outcome}"
    return page(title, "\n".join(sections))


def _outcome(result: LocalRunResult) -> str:
    if result.succeeded:
        return "succeeded"
    if any(s.status == Status.FAILED for s in result.stages):
        return "failed"
    return "stopped"


def _css(status: str) -> str:
    return {"succeeded": "ok", "failed": "bad"}.get(status, "other")


def _timeline(stages: list[StageResult]) -> str:
    """An SVG bar per stage, from its start to its end on one time axis (text stays text)."""
    ran = [s for s in stages if s.started is not None]
    origin = min((s.started for s in ran if s.started), default=0.0)
    end = max((s.finished or s.started or origin for s in ran), default=origin)
    span = max(end - origin, 0.001)
    left, width, row = 190, 560, 28
    height = 30 + row * len(stages)
    parts = [
        f'<svg class="timeline" role="img" aria-label="timeline of the stages" '
        f'width="{left + width + 170}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="14" fill="#555">0 s</text>',
        f'<text x="{left + width}" y="14" fill="#555" text-anchor="end">{span:.2f} s</text>',
        f'<line x1="{left}" y1="20" x2="{left + width}" y2="20" stroke="#d0d7de"/>',
    ]
    colors = {Status.SUCCEEDED: "#16a34a", Status.FAILED: "#dc2626"}
    for index, stage in enumerate(stages):
        y = 30 + row * index
        parts.append(f'<text x="0" y="{y + 15}">{escape(_clip(stage.name, 28))}</text>')
        if stage.started is None:
            status = escape(stage.status)
            parts.append(f'<text x="{left}" y="{y + 15}" fill="#6b7280">{status}</text>')
            continue
        x = left + (stage.started - origin) / span * width
        bar = max((stage.duration or 0.0) / span * width, 2.0)
        color = colors.get(stage.status, "#d97706")
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 3}" width="{bar:.1f}" height="16" rx="3" fill="{color}">'
            f"<title>{escape(stage.name)}: {escape(stage.status)}</title></rect>"
        )
        parts.append(f'<text x="{x + bar + 6:.1f}" y="{y + 15}">{escape(_bar_text(stage))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _bar_text(stage: StageResult) -> str:
    exit_code = "-" if stage.exit_code is None else str(stage.exit_code)
    return f"{stage.duration or 0.0:.2f} s · exit {exit_code}"


def _stage_table(stages: list[StageResult], *, kept: bool) -> str:
    origin = min((s.started for s in stages if s.started), default=None)
    rows = []
    for stage in stages:
        start = "-"
        if stage.started is not None and origin is not None:
            clock = time.strftime("%H:%M:%S", time.localtime(stage.started))
            start = f"+{stage.started - origin:.2f} s ({clock})"
        rows.append(
            [
                escape(stage.name),
                f'<span class="{_css(stage.status)}">{escape(stage.status)}</span>',
                escape(start),
                escape(f"{stage.duration:.2f} s" if stage.duration is not None else "-"),
                escape("-" if stage.exit_code is None else stage.exit_code),
                _log_cell(stage.log_path, kept),
            ]
        )
    return _table(["stage", "status", "start", "duration", "exit", "log"], rows)


def _log_cell(path: str | None, kept: bool) -> str:
    if not path:
        return "-"
    return f"<code>{escape(path)}</code>" if kept else "below (the run folder was removed)"


def _inputs(context: ReportContext) -> str:
    rows = []
    for var in context.plan.inputs:
        value = context.inputs.get(var.name)
        if value in (None, "", context.sentinel):
            shown, local, size = "not given", None, ""
        elif var.kind is Kind.FILE:
            local = _local_path(str(value), context.boxes)
            shown = local if local and str(value).startswith("file:") else str(value)
            size = _size(local) if local else "not local"
        else:
            shown = json.dumps(value) if isinstance(value, dict) else str(value)
            local, size = None, "value"
        kind = ("optional " if not var.required else "") + var.kind.value
        where = f"<code>{escape(shown)}</code>"
        if local and local != shown:
            where += f"<br>here: <code>{escape(local)}</code>"
        rows.append([escape(var.name), escape(kind), where, escape(size), escape(var.description)])
    if not rows:
        return "<p>none</p>"
    return _table(["input", "kind", "value", "size", "description"], rows)


def _outputs(result: LocalRunResult, plan: PipelinePlan) -> str:
    rows = []
    for name, folder in result.outputs.items():
        copied = result.copied.get(name)
        where = f"<code>{escape(folder)}</code>" if result.kept else ""
        if copied:
            where += ("<br>" if where else "") + f"copied to <code>{escape(copied)}</code>"
        rows.append([escape(name), where, escape(_size(folder))])
    if not rows:
        missing = ", ".join(v.name for v in plan.outputs) or "none"
        return f"<p>no outputs produced (pipeline outputs: {escape(missing)})</p>"
    return _table(["output", "where", "size"], rows)


def _graph(plan: PipelinePlan) -> str:
    if not plan.stages:
        return (
            '<p class="muted">not available: this run used a compiled package '
            "(run the manifests to see the graph)</p>"
        )
    return graph_svg.to_svg(graph.build(plan))


def _log(stage: StageResult) -> str:
    name = escape(stage.name)
    if not stage.log_path:
        return f'<h3>{name}</h3><p class="muted">{escape(stage.status)}: no log</p>'
    tail, total = _tail(stage.log_path)
    where = f"<code>{escape(stage.log_path)}</code>"
    body = escape("\n".join(tail)) if tail else "(empty)"
    return (
        f"<details open><summary>{name}: last {len(tail)} of {total} lines of {where}</summary>"
        f'\n<pre class="log">{body}</pre></details>'
    )


def _tail(path: str) -> tuple[list[str], int]:
    """The last LOG_LINES lines of a log (control sequences dropped) and its line count."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _LOG_BYTES))
            data = handle.read()
            handle.seek(0)
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError as exc:
        return [f"(cannot read the log: {exc.strerror})"], 0
    text = _CONTROL.sub("", data.decode("utf-8", "replace"))
    lines = text.splitlines()
    if size > _LOG_BYTES:
        lines = lines[1:]  # the first one is cut
    return lines[-LOG_LINES:], max(total, len(lines))


def _local_path(uri: str, boxes: Mapping[str, str]) -> str | None:
    """Where a file input's data is on this machine, if it is here."""
    scheme, _, _ = uri.partition("://")
    if scheme == "file":
        return urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)
    for base in sorted(boxes, key=len, reverse=True):
        if uri == base or uri.startswith(base + "/"):
            return os.path.join(boxes[base], *uri[len(base) :].strip("/").split("/"))
    return None


def _size(path: str) -> str:
    """`1.2 KiB` for a file, `3 files, 4.5 KiB` for a folder, or why not."""
    if os.path.isfile(path):
        return _bytes(os.path.getsize(path))
    if not os.path.isdir(path):
        return "missing"
    count, total = 0, 0
    for root, _, files in os.walk(path):
        for name in files:
            count += 1
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
            if count >= _WALK_LIMIT:
                return f"{count}+ files, {_bytes(total)}+"
    return f"{count} file{'s' if count != 1 else ''}, {_bytes(total)}"


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

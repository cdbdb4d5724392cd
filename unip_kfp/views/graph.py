"""The planned DAG of one pipeline as a picture: Mermaid text, Graphviz DOT, HTML or SVG.

`build` turns a `PipelinePlan` into nodes and edges: stages with their image and resources,
pipeline inputs and outputs with their datatypes (optional inputs dashed), mounted vars with
their box and `boxPath`, internal vars as labelled edges between stages, and the manifest
order as "then" edges where no data links two stages (left out with `parallel`, as
`compile --parallel` leaves it out). The renderers only write what `build` decided.

Names come from manifests and may hold any character. Each format escapes them its own way
(Mermaid entity codes, DOT string escapes, HTML escapes), so a name always shows as text.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass

from ..checks.roles import Role
from ..errors import RunFailedError, UsageError
from ..plan.model import Kind, PipelinePlan, Stage, Variable

MERMAID_VERSION = "11.17.2"  # the vendored renderer (unip_kfp/vendor/README.md)
FORMATS = ("mermaid", "dot", "html", "svg")


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # "stage", "input", "output" or "mount"
    lines: tuple[str, ...]
    dashed: bool = False


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str | None = None
    dashed: bool = False
    order: bool = False  # manifest order only, no data


@dataclass(frozen=True)
class Graph:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def build(plan: PipelinePlan, *, parallel: bool = False) -> Graph:
    """The graph of `plan`; with `parallel`, only the edges that carry data."""
    stage_ids = {stage.name: f"stage_{i}" for i, stage in enumerate(plan.stages)}
    nodes = [Node(stage_ids[s.name], "stage", _stage_lines(s)) for s in plan.stages]
    inputs = {}
    for index, var in enumerate(v for v in plan.variables if v.role is Role.INPUT):
        inputs[var.name] = f"in_{index}"
        nodes.append(Node(f"in_{index}", "input", _input_lines(plan, var), not var.required))
    edges: list[Edge] = []
    mounts: dict[tuple[str, str], str] = {}
    for stage in plan.stages:
        target = stage_ids[stage.name]
        for binding in stage.inputs:
            source = binding.source
            if source is None:
                continue
            if source.origin == "param":
                edges.append(Edge(inputs[binding.var], target, dashed=binding.optional))
            elif source.origin == "task":
                edges.append(Edge(stage_ids[source.ref], target, binding.var))
            else:
                key = (binding.var, source.ref)
                if key not in mounts:
                    mounts[key] = f"mount_{len(mounts)}"
                    lines = _mount_lines(plan, binding.var, source.ref, binding.target)
                    nodes.append(Node(mounts[key], "mount", lines))
                edges.append(Edge(mounts[key], target))
        if not parallel and stage.after and stage.after not in stage.needs:
            edges.append(Edge(stage_ids[stage.after], target, "then", order=True))
    for index, var in enumerate(plan.outputs):
        nodes.append(Node(f"out_{index}", "output", _output_lines(var)))
        producer = plan.producer(var.name)
        if producer is not None:
            edges.append(Edge(stage_ids[producer.name], f"out_{index}"))
    return Graph(plan.name, tuple(nodes), tuple(edges))


def _stage_lines(stage: Stage) -> tuple[str, ...]:
    limits = [f"{k} {v}" for k, v in (("cpu", stage.cpu), ("memory", stage.memory)) if v]
    limits += [f"{k} {v}" for k, v in stage.accelerators]
    return (stage.name, stage.image, *([" · ".join(limits)] if limits else []))


def _types(var: Variable, folder: bool) -> str:
    """Datatypes as the API declares them (and file types), e.g. `FILE · text/csv`."""
    if var.kind is not Kind.FILE:
        return "/".join(var.datatypes) + " value"
    kinds = [d for d in var.datatypes if not folder or d != "FILE"]
    parts = ["folder", *kinds] if folder else ["/".join(kinds) or "file, any type"]
    return " · ".join(parts + ([", ".join(var.content_types)] if var.content_types else []))


def _input_lines(plan: PipelinePlan, var: Variable) -> tuple[str, ...]:
    lines = [var.name, ("" if var.required else "optional ") + "input · " + _types(var, False)]
    if var.default:
        box, inside = _box_place(plan, var.default)
        lines.append(f"default: box {box}" + (f" · {inside}" if inside else ""))
    return (*lines, *([f"at {var.path}"] if var.path else []))


def _output_lines(var: Variable) -> tuple[str, ...]:
    return (var.name, "output · " + _types(var, True))


def _mount_lines(plan: PipelinePlan, var: str, uri: str, at: str | None) -> tuple[str, ...]:
    box, inside = _box_place(plan, uri)
    return (
        var,
        f"mounted · box {box}",
        *([inside] if inside else []),
        *([f"at {at}"] if at else []),
    )


def _box_place(plan: PipelinePlan, uri: str) -> tuple[str, str]:
    """(connected-box name, boxPath) of a mount URI; the URI itself for an unknown box."""
    for box in sorted(plan.boxes, key=lambda b: len(b.uri), reverse=True):
        if uri == box.uri or uri.startswith(box.uri + "/"):
            return box.name, uri[len(box.uri) :].strip("/")
    return uri, ""


# --- Mermaid ------------------------------------------------------------------------------------

_MERMAID_SHAPES = {
    "stage": '["{}"]',
    "input": '(["{}"])',
    "output": '[/"{}"/]',
    "mount": '[("{}")]',
}
_MERMAID_CLASSES = (
    "classDef stage fill:#e8f0fe,stroke:#1a56db,color:#111",
    "classDef input fill:#ecfdf3,stroke:#16a34a,color:#111",
    "classDef optional fill:#f8fafc,stroke:#16a34a,stroke-dasharray:5 3,color:#111",
    "classDef output fill:#fff7ed,stroke:#ea580c,color:#111",
    "classDef mount fill:#f5f3ff,stroke:#7c3aed,color:#111",
)


def mermaid_text(text: str) -> str:
    """A manifest string inside a quoted Mermaid label: entity codes for what Mermaid or
    HTML would read as syntax (`"`, `#`, `&`, `<`, `>`, backquote, `|`), spaces for breaks."""
    out = []
    for char in text:
        if char in '"#&<>`|;':
            out.append(f"#{ord(char)};")
        elif char in "\r\n\t":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def to_mermaid(graph: Graph) -> str:
    """Mermaid flowchart text, as GitHub and GitLab render it in Markdown."""
    title = (
        graph.title if re.fullmatch(r"[A-Za-z0-9._ -]+", graph.title) else json.dumps(graph.title)
    )
    lines = ["---", f"title: {title}", "---", "flowchart LR"]
    lines += [f"  {c}" for c in _MERMAID_CLASSES]
    for node in graph.nodes:
        texts = [mermaid_text(line) for line in node.lines]
        if node.kind == "stage":  # the stage's name stands out from its image and limits
            texts[0] = f"<b>{texts[0]}</b>"
        label = "<br>".join(texts)
        css = "optional" if node.dashed else node.kind
        lines.append(f"  {node.id}{_MERMAID_SHAPES[node.kind].format(label)}:::{css}")
    for edge in graph.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {edge.source} {arrow}{label} {edge.target}")
    order = [str(i) for i, edge in enumerate(graph.edges) if edge.order]
    if order:
        lines.append(f"  linkStyle {','.join(order)} stroke:#9ca3af,color:#6b7280")
    return "\n".join(lines) + "\n"


# --- Graphviz -------------------------------------------------------------------------------------

_DOT_NODES = {
    "stage": 'shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#1a56db"',
    "input": 'shape=oval, style=filled, fillcolor="#ecfdf3", color="#16a34a"',
    "output": 'shape=folder, style=filled, fillcolor="#fff7ed", color="#ea580c"',
    "mount": 'shape=cylinder, style=filled, fillcolor="#f5f3ff", color="#7c3aed"',
}
_FONT = 'fontname="Helvetica,Arial,sans-serif"'


def dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"\r\n|\r|\n", "\\\\n", escaped) + '"'


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text (`dot -Tsvg` draws it)."""
    lines = [
        f"digraph {dot_string(graph.title)} {{",
        f"  graph [rankdir=LR, labelloc=t, fontsize=14, {_FONT}, label={dot_string(graph.title)}];",
        f"  node [fontsize=11, {_FONT}];",
        f"  edge [fontsize=10, {_FONT}];",
    ]
    for node in graph.nodes:
        style = _DOT_NODES[node.kind] + (', style="filled,dashed"' if node.dashed else "")
        label = dot_string("\n".join(node.lines))
        lines.append(f"  {node.id} [{style}, label={label}];")
    for edge in graph.edges:
        attributes = [f"label={dot_string(edge.label)}"] if edge.label else []
        attributes += ["style=dashed"] if edge.dashed else []
        attributes += ['color="#9ca3af"', 'fontcolor="#6b7280"'] if edge.order else []
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {edge.source} -> {edge.target}{suffix};")
    return "\n".join([*lines, "}"]) + "\n"


def to_svg(dot: str) -> bytes:
    """SVG drawn by Graphviz's `dot`; a usage error that says how to get it when it is missing."""
    binary = shutil.which("dot")
    if binary is None:
        raise UsageError(
            "--format svg needs Graphviz's `dot`, which is not on PATH: install Graphviz "
            "(apt-get install graphviz, brew install graphviz), or use --format html or mermaid"
        )
    try:
        done = subprocess.run(
            [binary, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        raise RunFailedError("Graphviz `dot` did not finish within 120 s") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip()
        raise RunFailedError(f"Graphviz `dot` failed (exit {done.returncode}): {reason}")
    return done.stdout


def to_html(graph: Graph) -> str:
    """One self-contained HTML page that draws the Mermaid text with the vendored renderer."""
    from .html_page import graph_page

    return graph_page(graph.title, to_mermaid(graph))


def render(graph: Graph, fmt: str) -> bytes:
    """The graph in one of `FORMATS`, as bytes to write."""
    if fmt == "mermaid":
        return to_mermaid(graph).encode("utf-8")
    if fmt == "dot":
        return to_dot(graph).encode("utf-8")
    if fmt == "html":
        return to_html(graph).encode("utf-8")
    if fmt == "svg":
        return to_svg(to_dot(graph))
    raise UsageError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "MERMAID_VERSION", "Edge", "Graph", "Node", "build", "render"]

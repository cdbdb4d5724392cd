"""The planned graph as a small inline SVG, laid out here: no renderer, no Graphviz.

The local run report is written after every run, so it must stay small: inlining the
Mermaid renderer (as `graph --format html` does) costs 3.5 MB a report. This draws the same
`graph.Graph` left to right in layers: each node sits one layer after the latest node that
feeds it (longest path, with `graphlib`), nodes in a layer are ordered by where their
sources sit (one barycentre sweep), and edges are curves from the right side of a node to
the left side of the next. The shapes follow the legend of the Mermaid drawing (rectangles
for stages, rounded nodes for inputs, cylinders' colours for mounts, slanted nodes for
outputs; dashed when optional). Every string is escaped as XML text.
"""

from __future__ import annotations

import graphlib
import html
from dataclasses import dataclass

from .graph import Edge, Graph, Node

CHAR = 7.0  # px per character of the 12 px font, a little generous so text never overflows
LINE, PAD, GAP_X, GAP_Y, MARGIN = 16, 8, 64, 18, 12
STYLE = {  # kind: (fill, stroke)
    "stage": ("#eef2ff", "#4f46e5"),
    "input": ("#ecfdf5", "#059669"),
    "mount": ("#fff7ed", "#c2410c"),
    "output": ("#f5f3ff", "#7c3aed"),
}


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    width: float
    height: float


def to_svg(graph: Graph) -> str:
    """The whole `<svg>` element, sized to its content."""
    layers = _layers(graph)
    boxes = _place(graph, layers)
    width = max((b.x + b.width for b in boxes.values()), default=0) + MARGIN
    height = max((b.y + b.height for b in boxes.values()), default=0) + MARGIN
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'style="max-width: 100%; height: auto" '
        f'aria-label="{_text(graph.title)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>',
        '<g font-family="system-ui, sans-serif" font-size="12">',
    ]
    parts += [_edge(edge, boxes[edge.source], boxes[edge.target]) for edge in graph.edges]
    parts += [_node(node, boxes[node.id]) for node in graph.nodes]
    return "\n".join([*parts, "</g>", "</svg>"])


def _layers(graph: Graph) -> list[list[Node]]:
    """Nodes by layer: one after the latest of their sources; in graph order within one."""
    sources: dict[str, set[str]] = {node.id: set() for node in graph.nodes}
    for edge in graph.edges:
        sources[edge.target].add(edge.source)
    layer: dict[str, int] = {}
    for node_id in graphlib.TopologicalSorter(sources).static_order():
        layer[node_id] = 1 + max((layer[s] for s in sources[node_id]), default=-1)
    columns: list[list[Node]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in graph.nodes:
        columns[layer[node.id]].append(node)
    position: dict[str, float] = {}
    for column in columns:  # one barycentre sweep: fewer crossings, stable for ties
        start = {node.id: float(index) for index, node in enumerate(column)}
        column.sort(key=lambda n: _mean([position[s] for s in sources[n.id]], start[n.id]))
        position.update({node.id: float(index) for index, node in enumerate(column)})
    return columns


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _size(node: Node) -> tuple[float, float]:
    longest = max((len(line) for line in node.lines), default=0)
    return max(80.0, longest * CHAR + 2 * PAD + 8), len(node.lines) * LINE + 2 * PAD


def _place(graph: Graph, layers: list[list[Node]]) -> dict[str, _Box]:
    """Columns left to right, each centred on the tallest one."""
    sizes = {node.id: _size(node) for node in graph.nodes}
    heights = [sum(sizes[n.id][1] for n in c) + GAP_Y * (len(c) - 1) for c in layers]
    tallest = max(heights, default=0)
    boxes: dict[str, _Box] = {}
    x = float(MARGIN)
    for column, height in zip(layers, heights, strict=True):
        y = MARGIN + (tallest - height) / 2
        for node in column:
            width, node_height = sizes[node.id]
            boxes[node.id] = _Box(x, y, width, node_height)
            y += node_height + GAP_Y
        x += max(sizes[n.id][0] for n in column) + GAP_X
    return boxes


def _node(node: Node, box: _Box) -> str:
    fill, stroke = STYLE.get(node.kind, STYLE["stage"])
    dash = ' stroke-dasharray="5 4"' if node.dashed else ""
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}'
    if node.kind == "output":
        slant = 10
        points = (
            f"{box.x + slant},{box.y} {box.x + box.width},{box.y} "
            f"{box.x + box.width - slant},{box.y + box.height} {box.x},{box.y + box.height}"
        )
        shape = f'<polygon points="{points}" {paint}/>'
    else:
        radius = {"input": 14, "mount": 10}.get(node.kind, 3)
        shape = (
            f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" '
            f'rx="{radius}" {paint}/>'
        )
    bold = ' font-weight="600"'
    lines = [
        f'<text x="{box.x + box.width / 2}" y="{box.y + PAD + LINE * (i + 1) - 4}" '
        f'text-anchor="middle"{bold if i == 0 else ""}>{_text(line)}</text>'
        for i, line in enumerate(node.lines)
    ]
    return f'<g class="node {node.kind}">{shape}{"".join(lines)}</g>'


def _edge(edge: Edge, source: _Box, target: _Box) -> str:
    x1, y1 = source.x + source.width, source.y + source.height / 2
    x2, y2 = target.x, target.y + target.height / 2
    bend = max(24.0, (x2 - x1) / 2)
    colour = "#9ca3af" if edge.order else "#555"
    dash = ' stroke-dasharray="5 4"' if edge.dashed or edge.order else ""
    path = (
        f'<path d="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" fill="none" '
        f'stroke="{colour}" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
    )
    if not edge.label:
        return path
    label = (
        f'<text x="{(x1 + x2) / 2}" y="{(y1 + y2) / 2 - 4}" text-anchor="middle" '
        f'fill="{colour}" stroke="#fff" stroke-width="4" paint-order="stroke">'
        f"{_text(edge.label)}</text>"
    )
    return f'<g class="edge">{path}{label}</g>'


def _text(value: str) -> str:
    return html.escape(value, quote=True)

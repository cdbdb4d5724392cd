"""The report's graph as an inline SVG (unip_kfp/views/graph_svg.py): every node and edge drawn, in
layers that follow the data, every string escaped, and small enough to write per run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from unip_kfp.views.graph import Edge, Graph, Node
from unip_kfp.views.graph_svg import to_svg

SVG = "{http://www.w3.org/2000/svg}"


def _graph() -> Graph:
    return Graph(
        "p",
        (
            Node("stage_0", "stage", ("<script>alert(1)</script>", "img:1")),
            Node("stage_1", "stage", ("b & c", "img:2")),
            Node("in_0", "input", ("data", "input · FILE"), dashed=True),
            Node("out_0", "output", ("result",)),
        ),
        (
            Edge("in_0", "stage_0", dashed=True),
            Edge("stage_0", "stage_1", "model"),
            Edge("stage_0", "stage_1", "then", order=True),
            Edge("stage_1", "out_0"),
        ),
    )


def test_every_node_and_edge_is_drawn_and_escaped() -> None:
    svg = to_svg(_graph())
    root = ET.fromstring(svg)  # well-formed XML: every string was escaped
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("<script>alert(1)</script>") == 1 and "b & c" in texts
    assert {"data", "result", "model", "then"} <= set(texts)
    assert "<script" not in svg and len(list(root.iter(f"{SVG}path"))) == 4 + 1  # + arrow
    dashed = [p for p in root.iter(f"{SVG}path") if p.get("stroke-dasharray")]
    assert len(dashed) == 2  # the optional input's edge and the manifest-order edge
    assert root.find(f".//{SVG}rect[@stroke-dasharray]") is not None  # the optional input


def test_layers_follow_the_data_left_to_right() -> None:
    svg = to_svg(_graph())
    left = {
        m[3]: float(m[1])
        for m in re.finditer(r'<g class="node (\w+)"><(?:rect x|polygon points)="([\d.]+)[^>]*>'
                             r'<text[^>]*>([^<]*)</text>', svg)
        for m in [(None, m.group(2), None, m.group(3))]
    }
    assert left["data"] < left["&lt;script&gt;alert(1)&lt;/script&gt;"] < left["b &amp; c"]
    assert left["b &amp; c"] < left["result"]


def test_an_empty_graph_is_still_an_image() -> None:
    root = ET.fromstring(to_svg(Graph("empty", (), ())))
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == "empty"

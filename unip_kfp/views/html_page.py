"""Self-contained HTML pages (the graph page, the local run report) that need no network.

Everything a page needs is inside it: the styles, and for a drawing the vendored Mermaid
renderer (`unip_kfp/vendor/`), inlined. A Content-Security-Policy forbids the browser to
load anything else, so a page opened from disk, a CI artifact or a mail stays offline.
Every string from a manifest or a run goes through `escape`.
"""

from __future__ import annotations

import functools
import html
from importlib import resources

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:"
)
_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 24px; color: #111; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.muted { color: #555; } .legend { color: #444; font-size: 13px; }
pre.mermaid { background: none; border: 0; margin: 8px 0; }
pre.log, pre.source { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px;
       padding: 8px 10px; overflow-x: auto; font-size: 12px; max-height: 420px; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #15803d; } .bad { color: #b91c1c; } .other { color: #92400e; }
.error { color: #b91c1c; font-weight: 600; }
code { font-size: 12px; } td code { word-break: break-all; }
svg.timeline text { font: 12px system-ui, sans-serif; }
"""
# Draws every `pre.mermaid` block; the body's data-graph says how it went (tests read it).
_RUN_MERMAID = """
mermaid.initialize({
  startOnLoad: false, securityLevel: "strict",
  flowchart: { htmlLabels: true, wrappingWidth: 420 } });
mermaid.run({ querySelector: "pre.mermaid" }).then(
  () => { document.body.dataset.graph = "rendered"; },
  (error) => {
    document.body.dataset.graph = "failed";
    const note = document.createElement("p");
    note.className = "error";
    note.textContent = "The graph could not be drawn: " + error;
    document.body.prepend(note);
  });
"""
LEGEND = (
    "Rectangles are stages (image, resources); rounded nodes are pipeline inputs with their "
    "datatypes, dashed when optional; cylinders are variables mounted from a box (box, "
    "boxPath); slanted nodes are output folders. An edge label names the internal variable "
    "handed from stage to stage; “then” is manifest order where no data links two stages."
)


def escape(text: object) -> str:
    """Any value as HTML text (quotes too, so it is also safe inside attributes)."""
    return html.escape(str(text), quote=True)


@functools.lru_cache(maxsize=1)
def mermaid_js() -> str:
    """The vendored renderer, safe to inline in a `<script>` element."""
    text = resources.files("unip_kfp").joinpath("vendor/mermaid.min.js").read_text("utf-8")
    return text.replace("</script", "<\\/script")


def mermaid_block(mermaid: str) -> str:
    """A diagram for `page(..., mermaid=True)`; the text is escaped, Mermaid reads it back."""
    return f'<pre class="mermaid">{escape(mermaid)}</pre>'


def page(title: str, body: str, *, mermaid: bool = False) -> str:
    """A whole HTML document; `body` is trusted HTML built with `escape`d values."""
    scripts = (
        f"<script>{mermaid_js()}</script>\n<script>{_RUN_MERMAID}</script>\n" if mermaid else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body data-graph="{"pending" if mermaid else "none"}">\n{body}\n'
        f"{scripts}</body>\n</html>\n"
    )


def graph_page(name: str, mermaid: str) -> str:
    """The page of `unip-kfp graph --format html`: the drawing, a legend, the Mermaid text."""
    body = (
        f"{mermaid_block(mermaid)}\n"
        f'<p class="legend">{escape(LEGEND)}</p>\n'
        "<details><summary>Mermaid text (paste it into a Markdown file on GitLab or GitHub)"
        f'</summary>\n<pre class="source">{escape(mermaid)}</pre>\n</details>'
    )
    return page(f"{name} · unip-kfp graph", body, mermaid=True)


__all__ = ["CSP", "LEGEND", "escape", "graph_page", "mermaid_block", "mermaid_js", "page"]

"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Pictures of a plan: a graph as Mermaid, DOT, SVG or a self-contained HTML page.

A side branch of the flow: it reads the plan and nothing after it, for `unip-kfp graph` and
the local run report.
"""

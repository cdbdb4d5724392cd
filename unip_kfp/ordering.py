"""Dependency order, the one way unip-kfp walks a DAG of tasks.

Tasks come in rounds: every task whose dependencies are all placed, sorted by name, so the
walk is the same on every machine and in every run (`graphlib` does the bookkeeping). Used by
the local runner to walk a package and by the Kubeflow client to list a run's stages.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping

CycleError = graphlib.CycleError  # args[1] lists the cycle, its first task repeated last


def in_rounds(needs: Mapping[str, Iterable[str]]) -> list[str]:
    """Every task of `needs` (task -> the tasks it depends on), dependencies first."""
    sorter = graphlib.TopologicalSorter(needs)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order

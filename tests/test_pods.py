"""Pods per run on the cluster, counted from the compiled IR of every golden case.

KFP 2.17's backend compiler (``backend/src/v2/compiler/argocompiler``: ``dag.go``,
``container.go``, ``importer.go``) turns a package into an Argo workflow in which
- the root DAG and every sub-DAG task (``dsl.If``/``dsl.Else`` groups and their
  ``condition-branches`` parent) run one driver pod each, whether or not their condition
  holds; the children of a DAG whose condition is false create no pods;
- an importer task is one pod (the importer launcher);
- a container task is two pods: its driver, then its executor.
A task starts when the tasks it depends on and its DAG's driver are done; it depends on its
``dependentTasks`` and on every task whose outputs it reads (``dag.go``
``addImplicitDependencies``: packages list only the order their data does not imply).
The example's figures (11 pods, a critical path of 8) were seen by running that compiler on
the package (``../shared/research/kfp-2.17-backend-check.md``); the counter reproduces them
and so can be trusted for the other cases. A condition group runs exactly one branch, so
both figures are the largest over the branches (they are equal for every case here).

The optional-input translation keeps ``dsl.If``/``dsl.Else``: making the absent-input
sentinel the parameter's default with one importer would save 3 pods per optional input,
but the Kubeflow UI's run form sends a cleared optional field as ``""``, and the 2.17
importer fails on an empty URI, so an omitted input would fail the run from the UI.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pytest
from support.goldens import all_packages, compiled, documents
from support.kfp_fake_argo import implicit_dependencies


@dataclass(frozen=True)
class Pods:
    count: int  # pods a run creates
    critical_path: int  # pods on the longest chain of pods that wait for each other


def pods(spec: dict[str, Any]) -> Pods:
    """Pods of one run of the package's root DAG (its driver included)."""
    components = spec["components"]
    executors = spec["deploymentSpec"]["executors"]

    def of_dag(dag: dict[str, Any]) -> Pods:
        tasks = dag["tasks"]

        @functools.cache
        def task_pods(name: str) -> Pods:
            component = components[tasks[name]["componentRef"]["name"]]
            if "dag" in component:
                inner = of_dag(component["dag"])  # behind its own driver pod
                return Pods(1 + inner.count, 1 + inner.critical_path)
            executor = executors[component["executorLabel"]]
            return Pods(1, 1) if "importer" in executor else Pods(2, 2)

        @functools.cache
        def finish(name: str) -> int:
            """Pods on the longest chain that ends when this task is done."""
            before = [finish(d) for d in implicit_dependencies(tasks[name])]
            return max(before, default=0) + task_pods(name).critical_path

        conditional = [n for n in tasks if "condition" in tasks[n].get("triggerPolicy", {})]
        unconditional = [n for n in tasks if n not in conditional]
        # one branch of a condition group runs: count its drivers, and the largest branch
        count = sum(task_pods(n).count for n in unconditional)
        if conditional:
            count += len(conditional) + max(task_pods(n).count - 1 for n in conditional)
        return Pods(count, max((finish(n) for n in tasks), default=0))

    root = of_dag(spec["root"]["dag"])
    return Pods(1 + root.count, 1 + root.critical_path)


# (case, pipeline) -> (pods, critical path); seed-000 is the figure measured with the backend
EXPECTED: dict[tuple[str, str], tuple[int, int]] = {
    ("seed-000", "my-pipeline"): (11, 8),
    ("seed-001-mounted", "my-pipeline-mounted"): (11, 8),
    ("optional", "optional-inputs"): (10, 8),
    ("values", "value-types"): (4, 4),
    ("paths", "path-targets"): (6, 6),
    ("multi", "alpha"): (4, 4),
    ("multi", "beta"): (6, 6),
    ("platform", "platform-settings"): (9, 8),
    ("mounted-input", "mounted-input"): (6, 4),
    ("fanout", "fan-out"): (8, 8),
    ("fanout-parallel", "fan-out"): (8, 6),
    ("seed-000-parallel", "my-pipeline"): (11, 8),
    ("seed-000-cache", "my-pipeline"): (11, 8),
    ("seed-001-box", "my-pipeline-mounted"): (11, 8),
}


def test_the_example_needs_eleven_pods_with_a_critical_path_of_eight() -> None:
    spec, _ = documents(compiled("seed-000")["my-pipeline"])
    assert pods(spec) == Pods(count=11, critical_path=8)


@pytest.mark.parametrize(("case_id", "pipeline"), all_packages())
def test_pods_per_run_of_every_case(case_id: str, pipeline: str) -> None:
    spec, _ = documents(compiled(case_id)[pipeline])
    assert (case_id, pipeline) in EXPECTED, f"add {case_id}/{pipeline} to EXPECTED"
    assert pods(spec) == Pods(*EXPECTED[case_id, pipeline])


def test_the_counter_sees_a_sequential_chain_and_a_fan_out() -> None:
    """Two hand-written DAG shapes whose pods follow from the rules above."""

    def spec(tasks: dict[str, list[str]]) -> dict[str, Any]:
        return {
            "components": {"comp-c": {"executorLabel": "exec-c"}},
            "deploymentSpec": {"executors": {"exec-c": {"container": {}}}},
            "root": {"dag": {"tasks": {
                n: {"componentRef": {"name": "comp-c"}, "dependentTasks": d}
                for n, d in tasks.items()
            }}},
        }  # fmt: skip

    assert pods(spec({"a": [], "b": ["a"], "c": ["b"]})) == Pods(7, 7)
    assert pods(spec({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})) == Pods(9, 7)

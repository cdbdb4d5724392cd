"""The Argo side of a fake KFP 2.17 run: the workflow's nodes, which the API reports as tasks.

KFP 2.17 fills a run's ``run_details.task_details`` from the Argo workflow's
``status.nodes``, one task per node (checked against the 2.17.0 API server with Argo's node
statuses simulated; read in ``backend/src/apiserver/server/report_server.go`` →
``api_converter.go`` ``toModelTasks``/``toModelTask``/``toApiPipelineTaskDetail`` and
``backend/src/common/util/workflow.go`` ``NodeStatuses``):

* ``display_name`` is the node's display name: the workflow name for the root node, else the
  Argo DAG task name. Those are the IR **task keys** (``stage1``, never a stage's display
  name) plus the argocompiler's own tasks (``backend/src/v2/compiler/argocompiler``:
  ``dag.go`` root ``root-driver``/``root``, ``<key>-driver`` for every container or DAG task;
  ``container.go``: a stage is a DAG task ``<key>`` (template ``system-container-executor``)
  holding one task ``executor`` (template ``system-container-impl``, the pod); ``importer.go``:
  an importer is one pod ``<key>`` (``system-importer``)).
* ``state`` is the Argo phase through ``model.RuntimeState.ToV2`` (``model/run.go``): ``Error``
  becomes FAILED, and ``Omitted`` (a task whose dependency failed) maps to nothing, so the
  field is **absent**.
* ``child_tasks[].pod_name`` holds the children's Argo **node ids** (``node.Children``),
  ``create_time`` is the workflow's creation time, ``end_time`` of an unfinished node is
  ``0001-01-01T00:00:00Z`` (Go's zero time through ``timestamppb``), ``error`` is never set,
  and tasks come in node-id order.

Argo v4.0.5 (KFP 2.17's go.mod) names things (argoproj/argo-workflows):
``workflow/controller/dag.go`` ``taskNodeName``: node name ``<parent node name>.<task>``;
``pkg/apis/workflow/v1alpha1/workflow_types.go`` ``NodeID``: ``<workflow>-<fnv32a(name)>``;
``workflow/util/pod_name.go`` ``GeneratePodName`` (v2, the default): pod
``<workflow>-<template>-<fnv32a(name)>``. Children follow ``dag.go`` ``executeDAGTask``: a
task without dependencies is a child of its DAG's node, others of their dependencies'
outbound nodes. This file computes them on its own, so that ``unip_kfp.kubeflow.pods`` is
checked against an independent reading.

The check listed 19 tasks for the two-stage example, the untaken optional-input branch
(``condition-3``) included with its importer; here an untaken branch's nodes are Skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

ARGO_PHASES = frozenset({"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "ERROR", "SKIPPED",
                         "OMITTED"})
DONE = frozenset({"SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "OMITTED"})
RUN_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
API_STATE: dict[str, str | None] = {"PENDING": "PENDING", "RUNNING": "RUNNING",
                                    "SUCCEEDED": "SUCCEEDED", "SKIPPED": "SKIPPED",
                                    "FAILED": "FAILED", "ERROR": "FAILED", "OMITTED": None}
ZERO_TIME = "0001-01-01T00:00:00Z"
# A stage's phase -> (driver, stage DAG node, executor pod) phases; None: no node.
_EXPAND: dict[str, tuple[str | None, str | None, str | None]] = {
    "PENDING": ("PENDING", None, None),
    "RUNNING": ("SUCCEEDED", "RUNNING", "RUNNING"),
    "SUCCEEDED": ("SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
    "FAILED": ("SUCCEEDED", "FAILED", "FAILED"),
    "ERROR": ("SUCCEEDED", "FAILED", "ERROR"),
    "SKIPPED": ("SUCCEEDED", "SKIPPED", None),
    "OMITTED": ("OMITTED", "OMITTED", None),
}


def fnv32a(text: str) -> int:
    """Go's ``hash/fnv`` New32a over the UTF-8 bytes."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def node_id(workflow: str, name: str) -> str:
    return workflow if name == workflow else f"{workflow}-{fnv32a(name)}"


def pod_name(workflow: str, name: str, template: str) -> str:
    if name == workflow:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    return f"{prefix.encode()[:242].decode()}-{fnv32a(name)}"



def implicit_dependencies(task: dict[str, Any]) -> tuple[str, ...]:
    """What a task waits for in the workflow: ``dependentTasks``, then every task whose
    outputs it reads, as ``argocompiler/dag.go`` ``addImplicitDependencies`` appends them
    (a package lists only the order its data does not imply)."""
    deps = list(task.get("dependentTasks") or [])
    inputs = task.get("inputs") or {}
    for binding in [*(inputs.get("parameters") or {}).values(),
                    *(inputs.get("artifacts") or {}).values()]:
        for kind in ("taskOutputParameter", "taskOutputArtifact"):
            producer = (binding.get(kind) or {}).get("producerTask")
            if producer and producer not in deps:
                deps.append(producer)
    return tuple(deps)

@dataclass
class RunStep:
    """One report of a run: the workflow's state, and Argo phases by stage or node name.

    ``tasks`` keys are stage display names or task keys (their driver, DAG node and executor
    follow, see ``_EXPAND``), or any node's display name (``"stage1-driver"``, ``"importer"``)
    to set that node alone; ``None`` means "no such node yet". Unnamed stages do not exist
    while the run goes on, and at its end are Succeeded (run SUCCEEDED) or Omitted.
    ``others`` overrides that for the unnamed stages (``None``: no nodes, as after a
    terminate). ``terminating``: the workflow was told to stop (``activeDeadlineSeconds: 0``),
    which KFP reports as CANCELING. ``report=False``: the persistence agent has not reported
    since the last step.
    """

    state: str
    tasks: dict[str, str | None] = field(default_factory=dict)
    terminating: bool = False
    report: bool = True
    others: str | None = ""

    def __post_init__(self) -> None:
        if self.state not in RUN_STATES:
            raise ValueError(
                f"unknown run state {self.state!r}; use {list(RUN_STATES)} (the 2.17 backend "
                "never reports CANCELED: a terminated workflow is FAILED, terminating=True "
                "gives CANCELING)")
        bad = [p for p in [*self.tasks.values(), self.others or None]
               if p is not None and p not in ARGO_PHASES]
        if bad:
            raise ValueError(f"unknown Argo phase(s) {bad}; use {sorted(ARGO_PHASES)}")


def succeeding_script(stages: Sequence[str]) -> list[RunStep]:
    """Stages run one after another, then the run succeeds: len(stages) + 1 polls."""
    steps = [RunStep("RUNNING", {**{s: "SUCCEEDED" for s in stages[:i]}, stages[i]: "RUNNING"})
             for i in range(len(stages))] or [RunStep("RUNNING")]
    steps.append(RunStep("SUCCEEDED", {s: "SUCCEEDED" for s in stages}))
    return steps


def failing_script(stages: Sequence[str], failed_stage: str | None = None) -> list[RunStep]:
    """Runs until ``failed_stage`` (default: the last) fails; later stages end Omitted."""
    failed_stage = failed_stage or (stages[-1] if stages else None)
    done = list(stages[: stages.index(failed_stage)]) if failed_stage in stages else []
    steps = succeeding_script(done)[:-1]
    tasks: dict[str, str | None] = {s: "SUCCEEDED" for s in done}
    if failed_stage:
        steps.append(RunStep("RUNNING", {**tasks, failed_stage: "RUNNING"}))
        tasks[failed_stage] = "FAILED"
    steps.append(RunStep("FAILED", tasks))
    return steps


def stuck_script(stages: Sequence[str]) -> list[RunStep]:
    """The first stage runs forever (for timeout and cancel tests)."""
    return [RunStep("RUNNING", {stages[0]: "RUNNING"} if stages else {})]


def canceled_script(stages: Sequence[str]) -> list[RunStep]:
    """The first stage starts, then someone else terminates the run (2.17: it ends FAILED)."""
    first: dict[str, str | None] = {s: "RUNNING" for s in stages[:1]}
    return [RunStep("RUNNING", dict(first)),
            RunStep("RUNNING", dict(first), terminating=True),
            RunStep("FAILED", {s: "FAILED" for s in first}, others=None)]


def terminated_script(current: RunStep) -> list[RunStep]:
    """What follows ``:terminate``: no report yet, then CANCELING, then FAILED.

    Argo stops the running pods (they fail) and starts nothing new.
    """
    tasks = dict(current.tasks)
    final = {n: ("FAILED" if p in ("PENDING", "RUNNING") else p) for n, p in tasks.items()}
    return [RunStep(current.state, tasks, report=False),
            RunStep("RUNNING", tasks, terminating=True),
            RunStep("FAILED", final, others=None)]


@dataclass
class Node:
    """One Argo node of the layout: where it sits, and what the argocompiler made it."""

    name: str
    display: str
    template: str
    pod: bool
    parent: str | None
    deps: tuple[str, ...] = ()
    role: str = "helper"  # workflow, driver, stage, executor or helper
    stage: str | None = None
    untaken: bool = False  # in (or is) a condition branch that is not taken


@dataclass
class NodeLog:
    task_id: str
    start: str
    end: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class ArgoWorkflow:
    """The nodes of one run's workflow and what has been reported about them."""

    def __init__(self, spec: Any, name: str) -> None:
        self.name = name
        pipeline, platform = _split(spec)
        self._components = pipeline.get("components") or {}
        self._executors = (pipeline.get("deploymentSpec") or {}).get("executors") or {}
        self._configs = (((platform.get("platforms") or {}).get("kubernetes") or {})
                         .get("deploymentSpec") or {}).get("executors") or {}
        self.nodes: dict[str, Node] = {}
        self.stage_of: dict[str, str] = {}  # display name or key -> key
        self.phases: dict[str, str] = {}
        self.log: dict[str, NodeLog] = {}
        self._add(Node(name, name, "entrypoint", False, None, role="workflow"))
        self._add(Node(f"{name}.root-driver", "root-driver", "system-dag-driver", True, name))
        root = self._add(Node(f"{name}.root", "root", "root", False, name, ("root-driver",)))
        self._add_dag(pipeline.get("root") or {}, root, False)

    def _add(self, node: Node) -> Node:
        self.nodes[node.name] = node
        return node

    def _add_dag(self, component: dict[str, Any], boundary: Node, untaken: bool) -> None:
        tasks = (component.get("dag") or {}).get("tasks") or {}
        branches = sorted(k for k, t in tasks.items() if "dag" in self._component(t)
                          and (t.get("triggerPolicy") or {}).get("condition"))
        for key in sorted(tasks):
            task, base = tasks[key], f"{boundary.name}.{key}"
            deps, comp = implicit_dependencies(task), self._component(task)
            skipped = untaken or key in branches[1:]  # the first branch is the one taken
            if "dag" in comp:
                self._add(Node(base + "-driver", key + "-driver", "system-dag-driver", True,
                               boundary.name, deps, untaken=untaken))
                dag = self._add(Node(base, key, task["componentRef"]["name"], False,
                                     boundary.name, (key + "-driver",), untaken=skipped))
                self._add_dag(comp, dag, skipped)
                continue
            executor = self._executors.get(comp.get("executorLabel"), {})
            if "container" not in executor:
                self._add(Node(base, key, "system-importer", True, boundary.name, deps,
                               untaken=skipped))
                continue
            self.stage_of[key] = key
            self.stage_of[str((task.get("taskInfo") or {}).get("name") or key)] = key
            dag_template, impl = self._templates(task, comp)
            self._add(Node(base + "-driver", key + "-driver", "system-container-driver", True,
                           boundary.name, deps, "driver", key, untaken))
            self._add(Node(base, key, dag_template, False, boundary.name, (key + "-driver",),
                           "stage", key, skipped))
            self._add(Node(base + ".executor", "executor", impl, True, base, (), "executor",
                           key, skipped))

    def _component(self, task: dict[str, Any]) -> dict[str, Any]:
        return self._components.get((task.get("componentRef") or {}).get("name"), {})

    def _templates(self, task: dict[str, Any], comp: dict[str, Any]) -> tuple[str, str]:
        """``container.go`` ``addContainerExecutorTemplate``: retry and pod-metadata names."""
        dag, impl = "system-container-executor", "system-container-impl"
        if task.get("retryPolicy"):
            dag, impl = "retry-" + dag, "retry-" + impl
        metadata = self._configs.get(comp.get("executorLabel"), {}).get("podMetadata")
        if metadata is not None:
            prefix = (f"metadata-{len(metadata.get('annotations') or {})}-"
                      f"{len(metadata.get('labels') or {})}-")
            dag, impl = prefix + dag, prefix + impl
        return dag, impl

    # ---- what a report says

    def report(self, step: RunStep, now: str) -> None:
        """Take a report: every node's phase; first sight and end times stick."""
        self.phases = self._phases(step)
        for name, phase in self.phases.items():
            log = self.log.setdefault(name, NodeLog(str(uuid.uuid4()), now))
            if phase in DONE and log.end is None:
                log.end = now
            state = API_STATE[phase]
            if not log.history or log.history[-1].get("state") != state:
                log.history.append({"update_time": now, **({"state": state} if state else {})})

    def _phases(self, step: RunStep) -> dict[str, str]:
        if step.state == "PENDING" and not step.tasks:
            return {}
        final = step.state in ("SUCCEEDED", "FAILED")
        default = ("SUCCEEDED" if step.state == "SUCCEEDED" else "OMITTED") if final else None
        default = default if step.others == "" else step.others
        chosen = {self.stage_of[n]: p for n, p in step.tasks.items() if n in self.stage_of}
        phases: dict[str, str | None] = {}
        for node in self.nodes.values():
            if node.role == "workflow" or node.name == f"{self.name}.root":
                phases[node.name] = step.state
            elif node.role == "helper":
                phases[node.name] = "SKIPPED" if node.untaken else "SUCCEEDED"
            elif node.role == "stage":
                self._stage(phases, node, chosen.get(node.display, default))
        for name, phase in step.tasks.items():
            if name not in self.stage_of:
                phases.update({n.name: phase for n in self.nodes.values() if n.display == name})
        return {n: p for n, p in phases.items() if p is not None}

    def _stage(self, phases: dict[str, str | None], stage: Node, phase: str | None) -> None:
        driver = self.nodes[stage.name + "-driver"]
        if stage.untaken:
            phases[driver.name] = "SKIPPED" if driver.untaken else "SUCCEEDED"
            phases[stage.name] = "SKIPPED"
            return
        chosen = _EXPAND[phase] if phase else (None, None, None)
        for name, value in zip((driver.name, stage.name, stage.name + ".executor"), chosen,
                               strict=True):
            phases[name] = value

    # ---- as the API shows it

    def task_details(self, run_id: str, created: str) -> list[dict[str, Any]]:
        """The ``task_details`` of the run, in node-id order."""
        children = self._children()
        details = []
        for name in sorted(self.phases, key=lambda n: node_id(self.name, n)):
            log, state = self.log[name], API_STATE[self.phases[name]]
            task: dict[str, Any] = {
                "run_id": run_id, "task_id": log.task_id,
                "display_name": self.nodes[name].display, "create_time": created,
                "start_time": log.start, "end_time": log.end or ZERO_TIME,
                "state_history": [dict(h) for h in log.history]}
            if state:
                task["state"] = state
            if children[name]:
                task["child_tasks"] = [{"pod_name": c} for c in children[name]]
            details.append(task)
        return details

    def pod_names(self) -> dict[str, str]:
        """Pod node name -> pod name, for the pods that exist now (tests look logs up)."""
        return {n: pod_name(self.name, n, self.nodes[n].template)
                for n in self.phases if self.nodes[n].pod}

    def stage_pod(self, key: str) -> str:
        """The pod of stage ``key``'s user container, from the layout alone."""
        node = self.nodes[next(n for n, v in self.nodes.items() if v.role == "executor"
                               and v.stage == key)]
        return pod_name(self.name, node.name, node.template)

    def _children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {name: [] for name in self.phases}
        for name in self.phases:
            node = self.nodes[name]
            if node.parent is None:
                continue
            parents = ([node.parent] if not node.deps else
                       [o for d in node.deps for o in self._outbound(f"{node.parent}.{d}")])
            for parent in parents:
                if parent in children:
                    children[parent].append(node_id(self.name, name))
        return children

    def _outbound(self, name: str) -> Iterable[str]:
        """A node's outbound nodes: itself for a pod, else its DAG's last tasks' ones."""
        node = self.nodes.get(name)
        if node is None or name not in self.phases:
            return []
        inside = [n for n in self.nodes.values() if n.parent == name and n.name in self.phases]
        if node.pod or self.phases[name] in ("SKIPPED", "OMITTED") or not inside:
            return [name]
        needed = {d for n in inside for d in n.deps}
        return [o for n in inside if n.display not in needed for o in self._outbound(n.name)]


def _split(spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if isinstance(spec, dict) and "root" not in spec and isinstance(spec.get("pipeline_spec"),
                                                                     dict):
        return spec["pipeline_spec"], spec.get("platform_spec") or {}
    return (spec if isinstance(spec, dict) else {}), {}

"""Each stage's state, read from a run's task details, which are Argo nodes, not stages.

The KFP 2.17 API server reports one task per node of the run's Argo workflow (checked
against the real server; ``api_converter.go`` ``toModelTasks``): for the two-stage example
19 of them, named after Argo's DAG task names: the workflow itself, ``root``,
``root-driver``, per stage ``<key>-driver`` and ``<key>`` (the IR task key, not the stage's
display name) with a child ``executor``, and KFP's ``importer*`` and ``condition-*`` tasks.
So a stage is the node named by its task key. A name can repeat (two stages' pods are both
``executor``, and a stage may be keyed ``root`` or ``executor``); among nodes of one name the
stage is the one whose child is its ``executor`` node (ids from ``pods.py``).

What the fields mean there:

* no ``state``: Argo's *Omitted* (``model.RuntimeState.ToV2`` has no state for it), a stage
  not run because an earlier one failed; ``SKIPPED``: its condition was false. Both are
  shown as "not run".
* a failed ``<key>-driver`` with no stage run: the stage failed before its container started
  (inputs, Secrets, pod settings).
* times: an unfinished node ends at ``0001-01-01T00:00:00Z`` and an unfinished run at
  ``1970-01-01T00:00:00Z``: both mean "not yet".
* a canceled run: ``POST :terminate`` moves it to CANCELING, and when Argo reports the
  stopped workflow as failed the run ends FAILED with ``state_history``
  ``[PENDING, RUNNING, CANCELING, FAILED]`` (2.17 maps only "CANCELED"/"Disabled" to
  CANCELED). A history through CANCELING therefore means canceled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..ordering import CycleError, in_rounds
from .pods import node_id, node_name, workflow_name

NOT_RUN = "not run"
_ARGO_NAMES = frozenset({"root", "root-driver", "executor"})  # the argocompiler's own tasks
CANCELED_STATES = frozenset({"CANCELING", "CANCELED"})


@dataclass(frozen=True)
class Stage:
    """A stage as the run shows it; `state` None means nothing of it exists yet."""

    key: str
    name: str
    state: str | None
    started: datetime | None = None
    ended: datetime | None = None
    in_driver: bool = False


def stage_keys(spec: dict[str, Any]) -> dict[str, str]:
    """Container tasks of the root DAG: task key -> stage display name, dependencies first.

    Importers and condition groups are KFP's plumbing, not stages. Ties go by task key.
    """
    components = spec.get("components") or {}
    executors = ((spec.get("deploymentSpec") or {}).get("executors")) or {}
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    try:
        order = in_rounds({k: _needs(t) & set(tasks) for k, t in tasks.items()})
    except CycleError:  # not a spec kfp compiles; still list its stages, by key
        order = sorted(tasks)
    keys: dict[str, str] = {}
    for key in order:
        task = tasks[key]
        component = components.get((task.get("componentRef") or {}).get("name"), {})
        if "container" in executors.get(component.get("executorLabel"), {}):
            keys[key] = str((task.get("taskInfo") or {}).get("name") or key)
    return keys


def _needs(task: dict[str, Any]) -> set[str]:
    """The tasks `task` waits for: `dependentTasks` and the producers of its inputs.

    The 2.17 backend adds the producers itself (`argocompiler/dag.go`,
    `addImplicitDependencies`); packages list only the order no input implies.
    """
    inputs = task.get("inputs") or {}
    bindings = [*(inputs.get("artifacts") or {}).values(),
                *(inputs.get("parameters") or {}).values()]
    producers = {
        str(b[kind].get("producerTask"))
        for b in bindings
        for kind in ("taskOutputArtifact", "taskOutputParameter")
        if isinstance(b, dict) and isinstance(b.get(kind), dict)
    }
    return set(task.get("dependentTasks") or []) | producers


def task_details(run: Any) -> list[Any]:
    return list(getattr(getattr(run, "run_details", None), "task_details", None) or [])


def run_workflow(run: Any) -> str | None:
    """The run's Argo workflow name, from the node ids its tasks list as children."""
    return workflow_name(c for t in task_details(run) for c in _children(t))


def stage_states(run: Any, keys: dict[str, str]) -> dict[str, Stage]:
    """Every stage of `keys` (key -> display name), by display name, as the run shows it."""
    by_name: dict[str, list[Any]] = {}
    for task in task_details(run):
        by_name.setdefault(str(getattr(task, "display_name", "") or ""), []).append(task)
    workflow = run_workflow(run)
    return {name: _stage(key, name, by_name, workflow) for key, name in keys.items()}


def _stage(key: str, name: str, by_name: dict[str, list[Any]], workflow: str | None) -> Stage:
    def expected(*path: str) -> str | None:
        return node_id(workflow, node_name(workflow, "root", *path)) if workflow else None

    node = _pick(key, by_name.get(key, []), expected(key, "executor"))
    driver = _pick(key + "-driver", by_name.get(key + "-driver", []), expected(key))
    if driver is not None and state_of(driver) == "FAILED":
        return Stage(key, name, "FAILED", when(getattr(driver, "start_time", None)),
                     when(getattr(driver, "end_time", None)), in_driver=True)
    if node is not None:
        state = state_of(node)
        return Stage(key, name, NOT_RUN if state in (None, "SKIPPED") else state,
                     when(getattr(node, "start_time", None)),
                     when(getattr(node, "end_time", None)))
    if driver is not None:
        state = state_of(driver)
        return Stage(key, name, NOT_RUN if state in (None, "SKIPPED") else "PENDING")
    return Stage(key, name, None)


def _pick(name: str, candidates: list[Any], child: str | None) -> Any:
    """The node called `name` that is ours, `child` being the id of what must be below it.

    A unique name is ours. Otherwise (several nodes, or a stage keyed like the
    argocompiler's own `root`, `root-driver`, `executor`): the node above `child`; else
    one without children, since a node whose children are others' is another node. A
    stage node without children has not run (Argo gives a started one its executor at
    once), which tells a stage `executor` from another stage's last executor pod.
    """
    if len(candidates) == 1 and name not in _ARGO_NAMES:
        return candidates[0]
    if child is None:
        return candidates[0] if candidates else None
    for task in candidates:
        if child in _children(task):
            return task
    rest = [t for t in candidates if not _children(t)]
    if name == "executor":
        rest = [t for t in rest if state_of(t) in (None, "SKIPPED")]
    return rest[0] if rest else None


def _children(task: Any) -> list[str]:
    return [str(getattr(c, "pod_name", None) or "") for c in getattr(task, "child_tasks", None)
            or [] if getattr(c, "pod_name", None)]


def state_of(obj: Any) -> str | None:
    """A run's or task's state in upper case; None when the field is absent."""
    state = getattr(obj, "state", None)
    text = str(state).upper() if state else ""
    return None if text in ("", "NONE", "RUNTIME_STATE_UNSPECIFIED") else text


def was_canceled(run: Any) -> bool:
    """Whether the run is or was being canceled: its state or its history says so."""
    history = [state_of(h) for h in getattr(run, "state_history", None) or []]
    return state_of(run) in CANCELED_STATES or any(s in CANCELED_STATES for s in history)


def when(value: Any) -> datetime | None:
    """A timestamp, or None for the server's "not yet" (year 1 or 1970-01-01)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.year <= 1970:
        return None
    return value

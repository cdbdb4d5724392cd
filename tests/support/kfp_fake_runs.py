"""Runs of the fake KFP API server: what creating one checks, and how a run reads back.

From the KFP 2.17.0 backend (single-user mode checked against the real server's REST
handling; the rest read):

* ``server/api_converter.go`` ``toModelRun``: an empty ``display_name`` is an
  ``InternalServerError`` (500) wrapping "Run name cannot be empty".
* ``resource/resource_manager.go`` ``CreateRun``: every failure to fetch the template (an
  unknown pipeline version, a version of another pipeline, an invalid ``pipeline_spec``) is
  wrapped by ``NewInternalServerError`` (500, "Failed to create a run due to error fetching
  manifest"). ``template/v2_template.go`` ``NewV2SpecTemplate`` checks the spec;
  ``validatePipelineJobInputs`` then checks the parameters and answers 400 (code 3), e.g.
  "parameter X is not optional, yet has neither default value nor user provided value".
* ``toApiRun``: a run shows ``service_account`` (``template.go`` ``setDefaultServiceAccount``:
  "pipeline-runner" unless given), ``created_at``/``scheduled_at``/``finished_at`` at second
  precision (``finished_at`` is 1970-01-01 until the end), ``state_history``
  (``storage/run_store.go`` appends a state when it changes), and either
  ``pipeline_version_reference`` (a run of a version: nothing else) or ``pipeline_spec``. It
  never shows ``error``.
* ``resource_manager.go`` ``ReportWorkflowResource``: a workflow being terminated
  (``IsTerminating``) is CANCELING, then Argo's ``Failed`` is FAILED; ``TerminateRun``
  (``storage/run_store.go``) sets CANCELING without a history entry and refuses a run that
  is not PENDING/RUNNING/PAUSED with "Row not found" (400).
* ``argocompiler/argo.go``: the workflow is ``GenerateName: <pipelineInfo.name>-``, so
  Kubernetes names it ``<pipeline>-<5 random characters>``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .kfp_fake_argo import ArgoWorkflow, RunStep, implicit_dependencies, succeeding_script
from .kfp_fake_errors import ApiError, invalid_input, invalid_input_with_details

EPOCH = "1970-01-01T00:00:00Z"
TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
DEFAULT_SERVICE_ACCOUNT = "pipeline-runner"
_RANDOM = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery utilrand.String's alphabet

StepLike = RunStep | str | tuple
ScriptLike = Sequence[StepLike] | Callable[[list[str]], Sequence[StepLike]]


def now_rfc3339() -> str:
    """UTC time as the backend prints it: whole seconds (``time.Unix(sec, 0)``), ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_step(step: StepLike) -> RunStep:
    """Short forms: ``"RUNNING"`` and ``("FAILED", {stage: phase})``."""
    if isinstance(step, RunStep):
        return copy.deepcopy(step)
    if isinstance(step, str):
        return RunStep(step)
    state, *rest = step
    return RunStep(state, dict(rest[0]) if rest and rest[0] else {})


def as_script(script: Sequence[StepLike]) -> list[RunStep]:
    steps = [as_step(s) for s in script]
    if not steps:
        raise ValueError("a run script needs at least one step")
    return steps


def split_spec(spec: Any) -> dict[str, Any]:
    """The pipeline document of a posted ``pipeline_spec`` (bare, or with a platform spec)."""
    if isinstance(spec, dict) and "root" not in spec and isinstance(spec.get("pipeline_spec"),
                                                                    dict):
        return dict(spec["pipeline_spec"])
    return spec if isinstance(spec, dict) else {}


def stage_names(pipeline_spec: Any) -> list[str]:
    """Display names of the root DAG's container tasks, topologically (ties by task key).

    What tests script runs with; the server itself shows task keys (``kfp_fake_argo``).
    Key order in the posted JSON is no guide: ``kfp.Client`` round-trips the spec through a
    protobuf Struct, whose map order changes from process to process.
    """
    spec = split_spec(pipeline_spec)
    tasks = (spec.get("root") or {}).get("dag", {}).get("tasks", {})
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    components = spec.get("components") or {}
    waiting = {key: set(implicit_dependencies(t)) & set(tasks) for key, t in tasks.items()}
    order: list[str] = []
    while waiting:
        ready = sorted(k for k, deps in waiting.items() if not deps) or sorted(waiting)[:1]
        for key in ready:
            del waiting[key]
            order.append(key)
        for deps in waiting.values():
            deps.difference_update(ready)
    names = []
    for key in order:
        label = components.get(tasks[key]["componentRef"]["name"], {}).get("executorLabel")
        if "container" in executors.get(label, {}):
            names.append((tasks[key].get("taskInfo") or {}).get("name") or key)
    return names


def check_spec(spec: Any) -> None:
    """``template.New`` / ``NewV2SpecTemplate`` on a posted or uploaded spec."""
    doc = split_spec(spec)
    if not ((doc.get("pipelineInfo") or {}).get("name") and doc.get("root")):
        # template.go isPipelineSpec: no name or no root is no pipeline spec at all.
        raise invalid_input_with_details("pipeline spec is invalid", "unknown template format")
    version = doc.get("schemaVersion", "")
    if version != "2.1.0":
        raise invalid_input_with_details(
            "pipeline spec is invalid",
            f"KFP only supports schema version 2.1.0, but the pipeline spec has version {version}")


_TYPES: dict[str, Callable[[Any], bool]] = {
    "NUMBER_DOUBLE": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "NUMBER_INTEGER": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "STRING": lambda v: isinstance(v, str),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "LIST": lambda v: isinstance(v, list),
    "STRUCT": lambda v: isinstance(v, dict),
}
# v2_template.go's messages for a value of the wrong type.
_WRONG_TYPE = {
    "NUMBER_DOUBLE": "requires type double or integer, but the parameter value is not of number "
                     "value type",
    "STRING": "requires type string, but the input parameter is not of string value type",
    "BOOLEAN": "requires type bool, but the input parameter is not of bool value type",
    "LIST": "requires type list, but the input parameter is not of list value type",
    "STRUCT": "requires type struct, but the input parameter is not of struct value type",
}
_WRONG_TYPE["NUMBER_INTEGER"] = _WRONG_TYPE["NUMBER_DOUBLE"]


def check_inputs(spec: Any, runtime_config: Any) -> None:
    """``v2_template.go`` ``validatePipelineJobInputs`` (names in order, not Go's map order)."""
    wanted = ((split_spec(spec).get("root") or {}).get("inputDefinitions") or {}).get(
        "parameters") or {}
    if not isinstance(runtime_config, dict):
        if wanted:
            raise invalid_input("pipeline requiring input has no parameter(s) provided. Need "
                                f"parameter(s): {', '.join(sorted(wanted))}")
        return
    given = runtime_config.get("parameters") or {}
    for name in sorted(wanted):
        param = wanted[name]
        if name not in given:
            if not param.get("isOptional") and "defaultValue" not in param:
                raise invalid_input(f"parameter {name} is not optional, yet has neither "
                                    "default value nor user provided value")
            continue
        kind = param.get("parameterType", "")
        if kind in _TYPES and not _TYPES[kind](given[name]):
            raise invalid_input(f"input parameter {name} {_WRONG_TYPE[kind]}")
    extra = sorted(set(given) - set(wanted))
    if extra:
        raise invalid_input(f"parameter(s) provided are not required by pipeline: "
                            f"{', '.join(extra)}")


def workflow_name(spec: Any) -> str:
    """What Kubernetes names a run's workflow: ``GenerateName`` plus 5 random characters."""
    name = str((split_spec(spec).get("pipelineInfo") or {}).get("name") or "pipeline")
    return name.split("/")[-1] + "-" + "".join(random.choices(_RANDOM, k=5))


@dataclass
class RunRecord:
    """A stored run: the posted body, its API JSON, its script and its Argo workflow."""

    body: dict[str, Any]
    json: dict[str, Any]
    stages: list[str]
    script: list[RunStep]
    workflow: ArgoWorkflow
    polls: int = 0
    reported: RunStep | None = None
    workflow_deleted: bool = False  # its workflow is gone: never reported again

    @property
    def run_id(self) -> str:
        return str(self.json["run_id"])

    @property
    def state(self) -> str:
        return str(self.json["state"])

    def advance(self) -> None:
        """A ``GET``: the persistence agent reports the next step of the script."""
        if self.workflow_deleted:
            return
        self.polls += 1
        step = self.script[min(self.polls, len(self.script)) - 1]
        if not step.report:
            return
        now = now_rfc3339()
        state = "CANCELING" if step.terminating else step.state
        history = self.json["state_history"]
        if history[-1]["state"] != state:
            history.append({"update_time": now, "state": state})
        self.json["state"] = state
        if state in TERMINAL and self.json["finished_at"] == EPOCH:
            self.json["finished_at"] = now
        self.workflow.report(step, now)
        self.reported = step

    def render(self) -> dict[str, Any]:
        run = copy.deepcopy(self.json)
        tasks = self.workflow.task_details(self.run_id, run["created_at"])
        if tasks:
            run["run_details"] = {"task_details": tasks}
        return run


def new_run(body: dict[str, Any], run_id: str, experiment_id: str, spec: Any,
            reference: dict[str, str] | None, script: ScriptLike | None) -> RunRecord:
    """A new PENDING run (``CreateRun``) of ``spec``, driven by ``script``."""
    created = now_rfc3339()
    run: dict[str, Any] = {
        "run_id": run_id, "experiment_id": experiment_id, "display_name": body["display_name"],
        "service_account": body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
        "storage_state": "AVAILABLE", "created_at": created, "scheduled_at": created,
        "finished_at": EPOCH, "state": "PENDING",
        "state_history": [{"update_time": created, "state": "PENDING"}]}
    if body.get("description"):
        run["description"] = body["description"]
    config = {k: v for k, v in (body.get("runtime_config") or {}).items() if v}
    if config:
        run["runtime_config"] = config
    if reference:
        run["pipeline_version_reference"] = reference
    else:
        run["pipeline_spec"] = copy.deepcopy(body["pipeline_spec"])
    stages = stage_names(spec)
    chosen = script(stages) if callable(script) else script
    steps = as_script(chosen if chosen is not None else succeeding_script(stages))
    return RunRecord(copy.deepcopy(body), run, stages, steps,
                     ArgoWorkflow(spec, workflow_name(spec)))


def refuse_creation(error: ApiError, *contexts: str) -> ApiError:
    """Wrap ``error`` with the contexts, innermost first, then "Failed to create a new run"."""
    for context in (*contexts, "Failed to create a new run"):
        error = error.wrap(context)
    return error

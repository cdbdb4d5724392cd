"""The compiled pipeline as the Kubeflow UI draws it: kfp's plumbing renamed, data edges only.

The KFP 2.17 UI draws a DAG (`frontend/src/lib/v2/StaticFlow.ts`, `buildDag`) as
- one node per task, labelled with its display name (`taskInfo.name`);
- one node per output artifact of every task, labelled with the artifact's key (for a
  sub-DAG output with a single selector, the inner artifact's key);
- an edge from a task to each of its outputs, from an artifact to each task reading it, and
  from each of a task's `dependentTasks` to the task.

What kfp's compiler leaves for an optional file input (`dsl.If`/`dsl.Else` + `dsl.OneOf`,
see `pipeline.py`) reads as plumbing there: a group `condition-branches-1` whose output is
`pipelinechannel--condition-branches-1-oneof-1`, branches `condition-2`/`condition-3`, and
parameters `pipelinechannel--<input>` in every group's details. And since kfp lists each data
producer in `dependentTasks` too, every data edge is drawn twice (artifact and task edge).

`tidy` rewrites the spec in place so that the graph shows the stages, the variables between
them and one step per input:
- each optional input's group is keyed `optional-<input>` and labelled
  "`<input>`: given / not given", its branches `<input>-given`/`<input>-not-given` ("given",
  "not given"), their DAG components `comp-<key>`, and the group's output is the input's
  name;
- a sub-DAG's `pipelinechannel--X` parameter becomes `X` (and its conditions follow);
- a sub-DAG output takes the key its selectors share (the input's name);
- `dependentTasks` keeps only tasks that are not already producers of the task's inputs:
  the 2.17 backend adds those itself (`backend/src/v2/compiler/argocompiler/dag.go`,
  `addImplicitDependencies`), and the local runner reads them the same way.
Nothing changes what runs: executor names stay, and every reference follows a rename.

One more pass is about size, not the UI: every executor repeats kfp's deprecated float
resources (`cpuLimit: 0.5`, `memoryLimit: 0.268435456`, in GB) beside the quantities
(`resourceCpuLimit: 500m`, `resourceMemoryLimit: 256Mi`). The 2.17 driver reads a float only
when its quantity is empty (`backend/src/v2/driver/driver.go`, `getPodResource`), so
`_drop_float_resources` removes the floats that have a quantity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..naming import optional_keys

CHANNEL = "pipelinechannel--"


@dataclass(frozen=True)
class OptionalGroup:
    """kfp's task keys of one optional input's If/Else group, and the input it imports."""

    var: str
    group: str  # condition-branches-N
    given: str  # condition-N of dsl.If
    absent: str  # condition-M of dsl.Else


def tidy(spec: Any, groups: list[OptionalGroup]) -> None:
    """Rewrite the PipelineSpec message `spec` in place (see the module docstring)."""
    from google.protobuf import json_format

    data = json_format.MessageToDict(spec)
    for group in groups:
        new_group, new_given, new_absent = optional_keys(group.var)
        _rename_task(data, group.group, new_group, f"{group.var}: given / not given")
        _rename_task(data, group.given, new_given, "given")
        _rename_task(data, group.absent, new_absent, "not given")
    for name, component in _dag_components(data):
        for parameter in list(component.get("inputDefinitions", {}).get("parameters", {})):
            if parameter.startswith(CHANNEL):
                _rename_parameter(data, name, component, parameter, parameter[len(CHANNEL) :])
    renamed = True
    while renamed:  # until stable: an outer DAG's output follows its inner DAGs' names
        renamed = False
        for name, component in _dag_components(data):
            for output in list(component["dag"].get("outputs", {}).get("artifacts", {})):
                renamed |= _rename_dag_output(data, name, component, output)
    for _, owner in _dags(data):
        for task in owner["dag"].get("tasks", {}).values():
            _drop_implied_dependencies(task)
    for executor in data.get("deploymentSpec", {}).get("executors", {}).values():
        _drop_float_resources(executor.get("container", {}).get("resources", {}))
    spec.Clear()
    json_format.ParseDict(data, spec)


def _dags(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(component name, component) of every DAG, the root's ("root") included."""
    yield "root", data["root"]
    yield from _dag_components(data)


def _dag_components(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, component in data.get("components", {}).items():
        if "dag" in component:
            yield name, component


def _callers(data: dict[str, Any], component: str) -> Iterator[tuple[dict, str, dict]]:
    """(DAG owner, task key, task) of every task that runs `component`."""
    for _, owner in _dags(data):
        for key, task in owner["dag"].get("tasks", {}).items():
            if task["componentRef"]["name"] == component:
                yield owner, key, task


def _rename_task(data: dict[str, Any], old: str, new: str, label: str) -> None:
    """Give the task keyed `old` (in whichever DAG) the key `new` and the display `label`."""
    for _, owner in _dags(data):
        tasks = owner["dag"].get("tasks", {})
        if old not in tasks:
            continue
        if new in tasks:
            raise ValueError(f"task key {new!r} is taken in the DAG of {old!r}")
        task = tasks.pop(old)
        task["taskInfo"] = {"name": label}
        tasks[new] = task
        _rename_component(data, task["componentRef"]["name"], f"comp-{new}")
        for other in tasks.values():
            if old in other.get("dependentTasks", []):
                other["dependentTasks"] = [new if d == old else d for d in other["dependentTasks"]]
            for binding in _bindings(other):
                for kind in ("taskOutputArtifact", "taskOutputParameter"):
                    if binding.get(kind, {}).get("producerTask") == old:
                        binding[kind]["producerTask"] = new
        for selector in _output_selectors(owner):
            if selector.get("producerSubtask") == old:
                selector["producerSubtask"] = new
        return


def _rename_component(data: dict[str, Any], old: str, new: str) -> None:
    """Rename a DAG component (only DAGs: executors and platform settings name the others)."""
    components = data.get("components", {})
    if new in components or "dag" not in components.get(old, {}):
        return
    components[new] = components.pop(old)
    for _, owner in _dags(data):
        for task in owner["dag"].get("tasks", {}).values():
            if task["componentRef"]["name"] == old:
                task["componentRef"]["name"] = new


def _bindings(task: dict[str, Any]) -> Iterator[dict[str, Any]]:
    inputs = task.get("inputs", {})
    yield from inputs.get("artifacts", {}).values()
    yield from inputs.get("parameters", {}).values()


def _output_selectors(owner: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for output in owner["dag"].get("outputs", {}).get("artifacts", {}).values():
        yield from output.get("artifactSelectors", [])


def _rename_parameter(
    data: dict[str, Any], name: str, component: dict[str, Any], old: str, new: str
) -> None:
    """Rename input parameter `old` of DAG component `name`: its uses inside, its callers."""
    definitions = component["inputDefinitions"]["parameters"]
    if new in definitions:
        return
    definitions[new] = definitions.pop(old)
    for task in component["dag"].get("tasks", {}).values():
        for binding in task.get("inputs", {}).get("parameters", {}).values():
            if binding.get("componentInputParameter") == old:
                binding["componentInputParameter"] = new
    for _, _, caller in _callers(data, name):
        bound = caller.get("inputs", {}).get("parameters", {})
        if old in bound:
            bound[new] = bound.pop(old)
        policy = caller.get("triggerPolicy", {})
        if "condition" in policy:  # CEL over the task's own inputs
            policy["condition"] = policy["condition"].replace(f"['{old}']", f"['{new}']")


def _rename_dag_output(
    data: dict[str, Any], name: str, component: dict[str, Any], old: str
) -> bool:
    """Name a DAG output after the artifact its selectors all pick (the input it imports)."""
    selectors = component["dag"]["outputs"]["artifacts"][old].get("artifactSelectors", [])
    keys = {s.get("outputArtifactKey") for s in selectors}
    if len(keys) != 1:
        return False
    (new,) = keys
    declared = component.get("outputDefinitions", {}).get("artifacts", {})
    if not new or new == old or new in declared or old not in declared:
        return False
    declared[new] = declared.pop(old)
    outputs = component["dag"]["outputs"]["artifacts"]
    outputs[new] = outputs.pop(old)
    for owner, key, _ in _callers(data, name):
        for task in owner["dag"].get("tasks", {}).values():
            for binding in task.get("inputs", {}).get("artifacts", {}).values():
                produced = binding.get("taskOutputArtifact", {})
                if produced.get("producerTask") == key and produced.get("outputArtifactKey") == old:
                    produced["outputArtifactKey"] = new
        for selector in _output_selectors(owner):
            if selector.get("producerSubtask") == key and selector.get("outputArtifactKey") == old:
                selector["outputArtifactKey"] = new
    return True


def _drop_implied_dependencies(task: dict[str, Any]) -> None:
    """Keep in `dependentTasks` only the order that no input of the task implies."""
    producers = {
        binding[kind]["producerTask"]
        for binding in _bindings(task)
        for kind in ("taskOutputArtifact", "taskOutputParameter")
        if kind in binding
    }
    kept = [d for d in task.get("dependentTasks", []) if d not in producers]
    if kept:
        task["dependentTasks"] = kept
    else:
        task.pop("dependentTasks", None)


_FLOATS = {
    "cpuLimit": "resourceCpuLimit",
    "cpuRequest": "resourceCpuRequest",
    "memoryLimit": "resourceMemoryLimit",
    "memoryRequest": "resourceMemoryRequest",
}


def _drop_float_resources(resources: dict[str, Any]) -> None:
    """Remove each deprecated float whose quantity is set (the driver reads the quantity)."""
    for old, new in _FLOATS.items():
        if resources.get(new):
            resources.pop(old, None)

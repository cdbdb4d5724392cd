"""What flows between tasks: a task's inputs from its DAG and producers, a DAG's outputs.

Resolved as the 2.17 driver resolves them: a skipped producer leaves its consumer's input
absent, and a `dsl.OneOf` output takes the first selector whose producer ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .data import Artifact
from .package_reader import constant_value

__all__ = ["Outputs", "dag_outputs", "task_inputs"]


@dataclass
class Outputs:
    """What a finished task (or DAG) hands on: artifacts and parameters by output key."""

    artifacts: dict[str, Artifact] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


def task_inputs(
    task: Any,
    parameters: Mapping[str, Any],
    artifacts: Mapping[str, Artifact],
    done: Mapping[str, Outputs | None],
) -> tuple[dict[str, Any], dict[str, Artifact]]:
    """The task's input parameters and artifacts; a skipped producer leaves the input absent."""
    params: dict[str, Any] = {}
    for key, spec in task.inputs.parameters.items():
        kind = spec.WhichOneof("kind")
        if kind == "component_input_parameter":
            if spec.component_input_parameter in parameters:
                params[key] = parameters[spec.component_input_parameter]
        elif kind == "runtime_value":
            params[key] = constant_value(spec.runtime_value)
        elif kind == "task_output_parameter":
            produced = done.get(spec.task_output_parameter.producer_task)
            output = spec.task_output_parameter.output_parameter_key
            if produced is not None and output in produced.parameters:
                params[key] = produced.parameters[output]
    arts: dict[str, Artifact] = {}
    for key, art_spec in task.inputs.artifacts.items():
        kind = art_spec.WhichOneof("kind")
        if kind == "component_input_artifact":
            if art_spec.component_input_artifact in artifacts:
                arts[key] = artifacts[art_spec.component_input_artifact]
        elif kind == "task_output_artifact":
            produced = done.get(art_spec.task_output_artifact.producer_task)
            output = art_spec.task_output_artifact.output_artifact_key
            if produced is not None and output in produced.artifacts:
                arts[key] = produced.artifacts[output]
    return params, arts


def dag_outputs(component: Any, done: Mapping[str, Outputs | None]) -> Outputs:
    """A DAG's outputs: for each, the first selector whose producer ran (`dsl.OneOf`)."""
    result = Outputs()
    for name, spec in component.dag.outputs.artifacts.items():
        for selector in spec.artifact_selectors:
            produced = done.get(selector.producer_subtask)
            if produced is not None and selector.output_artifact_key in produced.artifacts:
                result.artifacts[name] = produced.artifacts[selector.output_artifact_key]
                break
    for name, param_spec in component.dag.outputs.parameters.items():
        if param_spec.WhichOneof("kind") == "value_from_parameter":
            selectors = [param_spec.value_from_parameter]
        else:
            selectors = list(param_spec.value_from_oneof.parameter_selectors)
        for selector in selectors:
            produced = done.get(selector.producer_subtask)
            if produced is not None and selector.output_parameter_key in produced.parameters:
                result.parameters[name] = produced.parameters[selector.output_parameter_key]
                break
    return result

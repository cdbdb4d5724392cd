"""One KFP container component per stage, built in memory from the plan.

The container runs `sh -c BOOT CMD RECORD... SCRIPT` (see `stage_wrapper.py`): the command
is `sh -c BOOT` and the user's command, so the Kubeflow UI shows that command first; the args
are the records (every variable name, placeholder and target path a separate element) and
then the constant wrapper script. The kubelet expands `$(NAME)` and `$$` in command and args
(SPEC §5): the wrapper and the records' constants are written with `$` doubled, so they
reach the shell byte-exact, while the user's command keeps its Kubernetes meaning, as it has
on the platform. Components are built from `kfp.dsl.structures` so input descriptions,
optional parameters and placeholders (`IfPresent`, `InputUri`) are expressed exactly as the
package needs them.
"""

from __future__ import annotations

from typing import Any

from kfp.dsl import placeholders, structures
from kfp.dsl.container_component_class import ContainerComponent

from ..plan.model import Binding, Kind, PipelinePlan, Stage
from . import stage_wrapper

ARTIFACT_TYPE = "system.Artifact@0.0.1"
PARAMETER_TYPES = {Kind.FLOAT: "Float", Kind.INT: "Integer", Kind.DICT: "Dict", Kind.STR: "String"}


def stage_component(plan: PipelinePlan, stage: Stage) -> ContainerComponent:
    """The container component of `stage`: artifacts in/out, typed values, wrapper command."""
    inputs: dict[str, structures.InputSpec] = {}
    outputs: dict[str, structures.OutputSpec] = {}
    args: list[Any] = []
    for binding in stage.inputs:
        description = _description(plan, binding)
        if binding.kind is Kind.FILE:
            inputs[binding.io] = structures.InputSpec(type=ARTIFACT_TYPE, description=description)
        else:
            inputs[binding.io] = structures.InputSpec(
                type=PARAMETER_TYPES[binding.kind],
                optional=binding.optional or None,
                description=description,
            )
        args += _input_record(plan, binding)
    for binding in stage.outputs:
        outputs[binding.io] = structures.OutputSpec(
            type=ARTIFACT_TYPE, description=_description(plan, binding)
        )
        args += _literal(
            stage_wrapper.out_record(
                binding.env, placeholders.OutputPathPlaceholder(binding.io), binding.target
            )
        )
    args.append(stage_wrapper.container_script())
    spec = structures.ComponentSpec(
        name=stage.task,
        description=f"UNIP stage '{stage.name}' of pipeline '{plan.name}': {stage.shell}",
        inputs=inputs or None,
        outputs=outputs or None,
        implementation=structures.Implementation(
            container=structures.ContainerSpecImplementation(
                image=stage.image,
                command=stage_wrapper.container_command(stage.shell),
                args=args,
            )
        ),
    )
    return ContainerComponent(spec, pipeline_func=None)


def _input_record(plan: PipelinePlan, binding: Binding) -> list[Any]:
    """The wrapper record of one input: file, optional file (sentinel), value, optional value."""
    if binding.kind is Kind.FILE:
        path = placeholders.InputPathPlaceholder(binding.io)
        if binding.optional:
            # IfPresent on artifacts never fires on the 2.17 backend: the pipeline imports a
            # sentinel URI instead, and the wrapper unsets the variable when it sees it.
            return _literal(
                stage_wrapper.opt_record(
                    binding.env,
                    path,
                    binding.target,
                    placeholders.InputUriPlaceholder(binding.io),
                    plan.sentinel_uri,
                )
            )
        return _literal(stage_wrapper.in_record(binding.env, path, binding.target))
    record = _literal(
        stage_wrapper.val_record(
            binding.env, placeholders.InputValuePlaceholder(binding.io), binding.target
        )
    )
    if binding.optional:
        # IfPresent works on parameters: an omitted optional value leaves the variable unset.
        return [placeholders.IfPresentPlaceholder(input_name=binding.io, then=record)]
    return record


def _literal(items: list[Any]) -> list[Any]:
    """Constant strings escaped for the kubelet; placeholders are resolved by the driver."""
    return [stage_wrapper.kubernetes_literal(i) if isinstance(i, str) else i for i in items]


def _description(plan: PipelinePlan, binding: Binding) -> str | None:
    """The variable's own description (the APIComponent's), if it has one.

    Nothing else: every executor repeats it, and the records beside it already say which
    environment variable holds the data.
    """
    return plan.variable(binding.var).description or None

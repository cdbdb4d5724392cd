"""Task keys in the package: stages' and the steps unip-kfp adds must never meet (SPEC §2).

A stage's task key is `naming.task_name(stage)`; the steps around the stages are keyed after
their variable (`import-<input>`, `mount-<var>`, `no-<input>`, `optional-<input>`,
`<input>-given`, `<input>-not-given`; `naming.py`), and those keys are also their labels in
the Kubeflow UI. kfp renames a task whose key is taken, which would break both a stage's
outputs (found by task key) and a step's state in the UI, so validation refuses:
- a stage key that is kfp's own (`importer`, `condition-N`, ...) or a name the 2.17 run
  reports give to KFP's own steps (`root`, `executor`, any `<key>-driver`; see
  `kubeflow/stages.py`), both in `RESERVED_TASK`;
- a stage key, or its driver's name `<key>-driver`, that is a step key of a variable;
- a variable whose step keys would end in `-driver`, or meet another variable's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..manifests import models
from ..manifests.yaml_source import FieldPath
from ..naming import is_step_key, step_keys, task_name
from .roles import Role, roles, usages

# Task names kfp gives its own tasks (importers, dsl.If/Else groups, loops, exit handlers),
# and the Argo node names of KFP 2.17's own steps: `root`, `executor`, `<task key>-driver`.
RESERVED_TASK = re.compile(
    r"(importer|condition|condition-branches|for-loop|exit-handler)(-[0-9]+)?"
    r"|root|executor|.+-driver"
)

Problem = tuple[FieldPath, str, str]


def task_key_problems(
    spec: models.PipelineSpec, api: models.ApiSpec | None
) -> Iterator[Problem]:
    """Every clash of task keys in one pipeline: (field path, message, hint)."""
    steps = _step_vars(spec, api)
    declared = {v.name: i for i, v in enumerate(spec.vars)}
    tasks: dict[str, str] = {}
    for index, stage in enumerate(spec.stages):
        key, at = task_name(stage.name), ("stages", index, "name")
        if RESERVED_TASK.fullmatch(key):
            yield (at, f"stage name '{stage.name}' is taken by Kubeflow Pipelines' own tasks",
                   "rename the stage (importer, condition-N, for-loop-N, root, executor and "
                   "names ending in '-driver' are reserved)")
        other = tasks.setdefault(key, stage.name)
        if other != stage.name:
            yield (at, f"stages '{other}' and '{stage.name}' both become KFP task '{key}'",
                   "rename one of them")
        for var in steps:
            for name in (key, f"{key}-driver"):
                if is_step_key(name, var):
                    yield (at, f"stage name '{stage.name}' gives Kubeflow the task '{name}', "
                           f"the name of a step of var '{var}'", "rename the stage")
    yield from _var_problems(steps, declared)


def _var_problems(steps: list[str], declared: dict[str, int]) -> Iterator[Problem]:
    owner: dict[str, str] = {}
    for var in (v for v in steps if v in declared):  # undeclared vars are errors already
        at: FieldPath = ("vars", declared[var], "name")
        ending = sorted(k for k in step_keys(var) if k.endswith("-driver"))
        if ending:
            yield (at, f"var '{var}' gives Kubeflow the step '{ending[0]}': names ending in "
                   "'-driver' are Kubeflow's own", "rename the var")
        others = {owner.setdefault(k, var) for k in step_keys(var)} - {var}
        if others:
            yield (at, f"vars '{others.pop()}' and '{var}' both give Kubeflow the step "
                   f"'{sorted(step_keys(var))[0]}'", "rename one of them")


def _step_vars(spec: models.PipelineSpec, api: models.ApiSpec | None) -> list[str]:
    """Variables that get steps of their own: inputs (importers) and mounted ones."""
    role_of = roles(spec, api)
    return [
        name
        for name, use in usages(spec).items()
        if use.mounted or role_of[name] in (Role.INPUT, Role.MOUNTED)
    ]

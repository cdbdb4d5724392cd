"""Name rules shared by validation, the plan and the compiler (one place for each rule)."""

from __future__ import annotations

import keyword
import re

ENV_PREFIX = "UNIP_PIPELINE_"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_name(var: str) -> str:
    """`UNIP_PIPELINE_` + the var name upper-cased, every char outside [A-Z0-9_] mapped to `_`.

    The platform's rule (seed 000: `example_field` -> `UNIP_PIPELINE_EXAMPLE_FIELD`); the
    mapping keeps names exportable by dash, which silently drops invalid ones.
    """
    return ENV_PREFIX + re.sub(r"[^A-Z0-9_]", "_", var.upper())


def is_env_name(name: str) -> bool:
    """A name POSIX shells can export."""
    return bool(_ENV_NAME.fullmatch(name))


def is_dns1123_label(name: str) -> bool:
    """Kubernetes object names (`metadata.name`): lower-case alphanumerics and `-`, <= 63."""
    return len(name) <= 63 and bool(_DNS1123_LABEL.fullmatch(name))


def io_name(var: str) -> str:
    """KFP input/output/parameter name of a var: a lower-case identifier starting with a letter.

    Same rule as kfp's `sanitize_input_name`, plus a `v_` prefix where the result would not
    start with a letter (KFP requires it; pipeline parameters must be identifiers).
    """
    name = re.sub(r"[^_0-9a-z]+", "_", var.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "v_" + name
    if keyword.iskeyword(name):
        name += "_"  # pipeline parameters become Python parameters
    return name


def task_name(stage: str) -> str:
    """KFP task/component name of a stage: lower-case alphanumerics and `-` (as kfp renames)."""
    name = re.sub(r"[^-0-9a-z]+", "-", stage.lower()).strip("-")
    return name or "stage"


# Task keys of the steps unip-kfp adds around the stages (importers, optional-input groups).
# Each is also the step's label in the Kubeflow UI: the 2.17 importer launcher records its
# execution under the task's display name (`backend/src/v2/component/importer_launcher.go`,
# `TaskName: l.task.GetTaskInfo().GetName()`), while the UI looks executions up by task key
# (`frontend/src/lib/v2/DynamicFlow.ts`, `getTaskKeyFromNodeKey`); with key = label an
# importer's node gets its state. Validation keeps stage keys clear of these names.
ARGO_NAMES = frozenset({"root", "executor"})
"""Argo node names of KFP 2.17's own steps (`root`, the `executor` of every container task);
with every `<task key>-driver`, what run reports tell apart from stages."""


def import_key(var: str) -> str:
    """The importer of a caller's URI for `var` (a file input)."""
    return f"import-{task_name(var)}"


def mount_key(var: str, index: int = 1) -> str:
    """The importer of a mounted var's box URI (`-2`, ... for further URIs of one var)."""
    return f"mount-{task_name(var)}" + (f"-{index}" if index > 1 else "")


def absent_key(var: str) -> str:
    """The importer of the absent-input sentinel for an optional file input `var`."""
    return f"no-{task_name(var)}"


def optional_keys(var: str) -> tuple[str, str, str]:
    """The `dsl.If`/`dsl.Else` group of an optional file input: group, given, not given."""
    key = task_name(var)
    return f"optional-{key}", f"{key}-given", f"{key}-not-given"


def step_keys(var: str) -> set[str]:
    """Every task key unip-kfp may give a step of `var` (importers and groups)."""
    return {import_key(var), mount_key(var), absent_key(var), *optional_keys(var)}


def is_step_key(key: str, var: str) -> bool:
    """`key` is, or may become (`mount-<var>-N`), a task key of one of `var`'s steps."""
    mount = mount_key(var)
    return key in step_keys(var) or (
        key.startswith(mount + "-") and key[len(mount) + 1 :].isdigit()
    )

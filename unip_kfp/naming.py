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

"""A stage's environment as its pod would have it, and the kubelet's `$(NAME)` expansion.

On Kubernetes a container gets only the variables its spec defines (plus the image's own),
and the kubelet rewrites `$(NAME)` (NAME = a variable of that spec) and `$$` in its command,
args and env values before any shell runs (`third_party/forked/golang/expansion` in
Kubernetes). The local runner applies that rule to the same strings with the same names,
so a command means here what it will mean in the pod.

The pod spec of a stage defines, in this order: the stage's `env` (each value expanded with
the variables before it), then the `AWS_*` variables of its box Secrets (`kfp-kubernetes`
`secretAsEnv`), whose values here are the caller's S3 keys, which is what the Secret holds.
The host adds `PATH`, `HOME`, `LANG` and `TZ` (the image's part of a pod's environment) and
the run's `TMPDIR`; everything else of the host only with `inherit_env`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

__all__ = ["HOST_NAMES", "expand", "expander", "pod_variables", "stage_environment"]

HOST_NAMES = ("PATH", "HOME", "LANG", "TZ")
"""Taken from the host: in a pod they come from the image, which a local run does not have."""

_CALLER_FALLBACK = {
    "AWS_ACCESS_KEY_ID": "MINIO_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY": "MINIO_SECRET_KEY",
}


def expand(text: str, defined: Mapping[str, str]) -> str:
    """The kubelet's expansion: `$(NAME)` -> its value when defined, `$$` -> `$`, rest as is.

    An undefined or unterminated reference stays as written; the name is everything up to
    the first `)`. `$` followed by any other character keeps both.
    """
    if "$" not in text:
        return text
    out: list[str] = []
    start = index = 0
    end = len(text)
    while index < end:
        if text[index] != "$" or index + 1 == end:
            index += 1
            continue
        out.append(text[start:index])
        following = text[index + 1]
        if following == "$":
            out.append("$")
            index += 2
        elif following == "(":
            close = text.find(")", index + 2)
            if close < 0:
                out.append("$(")
                index += 2
            else:
                name = text[index + 2 : close]
                out.append(defined.get(name, f"$({name})"))
                index = close + 1
        else:
            out.append("$" + following)
            index += 2
        start = index
    out.append(text[start:])
    return "".join(out)


def expander(defined: Mapping[str, str]) -> Callable[[str], str]:
    """`expand` bound to one pod's variables."""
    frozen = dict(defined)
    return lambda text: expand(text, frozen)


def pod_variables(
    container_env: Sequence[tuple[str, str]],
    secret_env: Sequence[str],
    caller: Mapping[str, str],
) -> tuple[dict[str, str], list[str]]:
    """The variables the pod spec defines, in order, and the Secret keys the caller lacks.

    Each `env` value is expanded with the variables defined before it, as the kubelet does;
    a Secret's variable takes the caller's value (`AWS_*`, else the `MINIO_*` key that
    `unip_kfp.s3` would use) and is left out when the caller has none.
    """
    defined: dict[str, str] = {}
    for name, value in container_env:
        defined[name] = expand(value, defined)
    missing = []
    for name in secret_env:
        value = caller.get(name) or caller.get(_CALLER_FALLBACK.get(name, ""), "")
        if value:
            defined[name] = value
        else:
            missing.append(name)
    return defined, missing


def stage_environment(
    defined: Mapping[str, str],
    *,
    tmp_dir: str,
    inherit: bool,
    host: Mapping[str, str] | None = None,
    drop: Callable[[str], bool] = lambda name: False,
) -> dict[str, str]:
    """The process environment of a stage: host basics (or all of the host), then the pod's.

    `drop` names host variables never passed on (the wrapper's own, `UNIP_PIPELINE_*`).
    """
    source = os.environ if host is None else host
    if inherit:
        env = {k: v for k, v in source.items() if not drop(k)}
    else:
        env = {k: source[k] for k in HOST_NAMES if k in source}
    env["TMPDIR"] = tmp_dir
    env.setdefault("PYTHONUNBUFFERED", "1")  # stage logs stream live, not at exit
    env.update(defined)
    return env

"""A run of a pipeline: start one here or on Kubeflow (`run`), or attach to one by id.

`on_kubeflow` is the one rule that decides where `run` goes, for the CLI and Python alike.
`run` offers every option of `local.runner.run_local` and of `kubeflow.submission.submit`,
typed, so that an editor and mypy see them; kfp is imported only when a run starts.
`Project.run` comes here: so that `loaded` may import this module, a project is known by
what it does (`launch.Compilable`, and its `settings`), never by its class.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from ..compile.package import CompiledPackage
from ..errors import UsageError
from ..launch.arguments import InputArgument, OutputDestination, check_local_destinations
from ..launch.prepared import Compilable
from ..manifests.project_config import Settings, find_config, load_settings

if TYPE_CHECKING:
    import kfp

    from ..kubeflow.handle import RunHandle
    from ..local.result import LocalRunResult

Echo = Callable[[str], None]
"""Where progress lines go (default: stderr for local runs, stdout for Kubeflow)."""

RunTarget: TypeAlias = Compilable | str | os.PathLike[str] | CompiledPackage
"""What `run`, `upload` and `schedule` take: a loaded `Project` (`unip_kfp.load`; the
protocol `Compilable` is what it offers a run), a package file's path, or a compiled package."""


@runtime_checkable
class _Configured(Protocol):
    """A target with its own settings: a loaded `Project`."""

    @property
    def settings(self) -> Settings: ...


def run(
    target: RunTarget, *, pipeline: str | None = None,
    inputs: Mapping[str, InputArgument] | None = None,
    outputs: Mapping[str, OutputDestination] | None = None, local: bool = False,
    host: str | None = None, client: kfp.Client | None = None, config: str | None = None,
    workdir: str | None = None, jobs: int | None = None, real_paths: bool = False,
    inherit_env: bool = False, keep: bool = False, reuse: bool = False,
    namespace: str | None = None, token: str | None = None, token_file: str | None = None,
    ca_cert: str | None = None, experiment: str | None = None, run_name: str | None = None,
    from_version: str | None = None, upload: bool = False, cache: bool = False,
    wait: bool = True, timeout: float | None = None,
    on_submitted: Callable[[RunHandle], None] | None = None, force: bool = False,
    parallel: bool = False, s3_endpoint: str | None = None, echo: Echo | None = None,
) -> LocalRunResult | RunHandle:
    """Run one pipeline of `target` here, or on Kubeflow when one is named (`on_kubeflow`).

    Here: `run_local`'s options apply; it returns the finished `LocalRunResult`. On Kubeflow:
    `submit`'s options apply; `on_submitted(handle)` is called, then, if `wait`, it waits
    (`timeout`) and copies `outputs`, and returns the `RunHandle`. `inputs`/`outputs` follow
    the `-i`/`-o` rule either way; `-o` folders are checked before anything is submitted.
    """
    if not on_kubeflow(target, local=local, host=host, client=client, config=config,
                       from_version=from_version):
        if from_version or upload:
            raise UsageError("--from-version and --upload run on Kubeflow: give --host")
        from ..local.runner import run_local

        return run_local(target, pipeline=pipeline, inputs=inputs, outputs=outputs,
                         workdir=workdir, jobs=jobs, force=force, real_paths=real_paths,
                         inherit_env=inherit_env, keep=keep, reuse=reuse, parallel=parallel,
                         s3_endpoint=s3_endpoint, echo=echo)
    if reuse:
        raise UsageError("--reuse reuses this machine's stage results: run with --local, or "
                         "use --cache on Kubeflow")
    from ..kubeflow.submission import submit

    # Fail before submitting, not after a long run: local -o folders must be usable.
    check_local_destinations([os.fspath(d) for d in (outputs or {}).values()], force=force)
    handle = submit(target, pipeline=pipeline, client=client, host=host, namespace=namespace,
                    token=token, token_file=token_file, ca_cert=ca_cert,
                    experiment=experiment, run_name=run_name, inputs=inputs,
                    from_version=from_version, s3_endpoint=s3_endpoint, cache=cache,
                    parallel=parallel, echo=echo, upload=upload)
    if on_submitted is not None:
        on_submitted(handle)
    if wait:
        _finish(handle, outputs, timeout=timeout, force=force, echo=echo)
    return handle


def on_kubeflow(target: RunTarget, *, local: bool = False, host: str | None = None,
                client: kfp.Client | None = None, config: str | None = None,
                from_version: str | None = None) -> bool:
    """Whether `run` goes to Kubeflow: the one rule, for the CLI and Python alike.

    Kubeflow unless `local`, when any of `host`, `client`, `from_version`,
    `KF_PIPELINES_ENDPOINT` or `kubeflow.host` of the settings is given (a project's own,
    else `config`, else the `unip-kfp.yaml` beside a package file).
    """
    if local:
        return False
    if host or client is not None or from_version or os.environ.get("KF_PIPELINES_ENDPOINT"):
        return True
    return bool(_settings_of(target, config).config.kubeflow.host)


def _settings_of(target: RunTarget, config: str | None) -> Settings:
    """A project's settings; else `config`, or the `unip-kfp.yaml` beside a package file."""
    if isinstance(target, _Configured):
        return target.settings
    if isinstance(target, CompiledPackage):
        path = target.path
        return load_settings(config or (find_config([path]) if path else None))
    if isinstance(target, (str, os.PathLike)):
        return load_settings(config or find_config([os.fspath(target)]))
    return load_settings(config)  # another Compilable: no file to look beside


def _finish(handle: RunHandle, outputs: Mapping[str, OutputDestination] | None, *,
            timeout: float | None, force: bool, echo: Echo | None) -> None:
    """Wait for the run (RunFailedError, WaitTimeoutError), then copy its outputs."""
    handle.wait(timeout=timeout, echo=echo)
    if outputs:
        say = echo or handle.echo
        for name, dest in handle.outputs(outputs, force=force).items():
            say(f"{name}: {dest}")


def attach(
    run_id: str, *, client: kfp.Client | None = None, host: str | None = None,
    namespace: str | None = None, token: str | None = None, token_file: str | None = None,
    ca_cert: str | None = None, config: str | None = None, s3_endpoint: str | None = None,
    echo: Echo | None = None,
) -> RunHandle:
    """The `RunHandle` of an existing Kubeflow run, by id: `wait()`, `logs()`, `cancel()`...

    Settings (`kubeflow.*`, `s3.*`) come from `config`, else `unip-kfp.yaml` here.
    """
    from ..kubeflow.operate import attach as attach_run

    return attach_run(run_id, config=config, s3_endpoint=s3_endpoint, echo=echo,
                      client=client, host=host, namespace=namespace, token=token,
                      token_file=token_file, ca_cert=ca_cert)


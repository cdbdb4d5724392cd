"""`unip-kfp run`: on this machine by default, on Kubeflow with `--host`/`KF_PIPELINES_ENDPOINT`.

Both modes share the `-i`/`-o` rule (`runargs.py`) and the exit-code contract; the work is
done by `local.run_local` and `kubeflow.submit`, this module only parses and dispatches.
"""

from __future__ import annotations

import os
import sys

import click

from ..compile.package import is_package
from ..errors import UsageError
from ..launch.arguments import check_local_destinations, command_line
from ..manifests.project_config import find_config, load_settings
from ..project import Project
from .auth_options import kubeflow_auth_options, token_choice
from .common import handle_errors, load_for_command, parse_pairs, plan_options


@click.command()
@click.argument("path")
@click.option("--pipeline", help="Which pipeline, when PATH holds several.")
@click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=VALUE",
              help="Input: ./local/path, scheme://uri, box/relative/path, or a value.")
@click.option("-o", "--output", "outputs", multiple=True, metavar="NAME=DEST",
              help="Copy an output folder to DEST when the run succeeds.")
@click.option("--local", "force_local", is_flag=True, help="Run here even if a host is set.")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Module folder stages run in (local; default: above the manifests).")
@click.option("--jobs", type=click.IntRange(min=1), help="Concurrent stages (local, --parallel).")
@click.option("--force", is_flag=True, help="Replace a non-empty output folder.")
@click.option("--real-paths", is_flag=True,
              help="Use this machine's own paths for `path:` targets (local; checked first).")
@click.option("--inherit-env", is_flag=True,
              help="Pass this shell's whole environment to local stages, not only a pod's.")
@click.option("--keep", is_flag=True, help="Keep the local run folder after success.")
@click.option("--reuse", is_flag=True,
              help="Skip a stage whose result is stored for the same image, command, inputs "
              "and code (local; .unip-kfp/cache).")
@click.option("--parallel", is_flag=True, help="Compile with data dependencies only.")
@click.option("--cache", is_flag=True, help="Let Kubeflow reuse cached results.")
@click.option("--host", help="Kubeflow Pipelines API (default: KF_PIPELINES_ENDPOINT).")
@click.option("--namespace", help="Kubeflow namespace (profile) of the run.")
@click.option("--experiment", help="Experiment name (default: the pipeline name).")
@click.option("--run-name", help="Display name of the run.")
@click.option("--token", help="Bearer token for the Kubeflow API (unsafe: use --token-file).")
@kubeflow_auth_options
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the Kubeflow run to finish.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop waiting after SECONDS.")
@click.option("--from-version", help="Run an uploaded pipeline version instead of a package.")
@click.option("--upload", "upload_first", is_flag=True,
              help="Upload the package first (a new version only if it changed) and run that "
              "version; without it, a version already holding the package is used if any.")
@click.option("--s3-endpoint", help="S3/MinIO endpoint for box inputs and outputs.")
@plan_options
@handle_errors
@command_line()  # messages name inputs and outputs as `-i x` / `-o y`
def run(path: str, pipeline: str | None, inputs: tuple[str, ...], outputs: tuple[str, ...],
        force_local: bool, workdir: str | None, jobs: int | None, force: bool, real_paths: bool,
        inherit_env: bool, keep: bool, parallel: bool, cache: bool, host: str | None,
        namespace: str | None, experiment: str | None, run_name: str | None, token: str | None,
        wait: bool,
        timeout: float | None, from_version: str | None, s3_endpoint: str | None,
        boxes: tuple[str, ...], user: str | None, strict: bool, config: str | None,
        token_file: str | None = None, ca_cert: str | None = None, reuse: bool = False,
        upload_first: bool = False) -> None:
    """Run a pipeline: here (default) or on Kubeflow (--host)."""
    input_map = parse_pairs("-i", inputs)
    output_map = parse_pairs("-o", outputs)
    target = path if is_package(path) else load_for_command([path], boxes, user, strict, config)
    settings = target.settings if isinstance(target, Project) else load_settings(
        config or find_config([path]))
    remote = not force_local and bool(host or os.environ.get("KF_PIPELINES_ENDPOINT")
                                      or settings.config.kubeflow.host or from_version)
    if not remote:
        if from_version or upload_first:
            raise UsageError("--from-version and --upload run on Kubeflow: give --host")
        from ..local import run_local

        run_local(target, pipeline=pipeline, inputs=input_map, outputs=output_map,
                  workdir=workdir, jobs=jobs, force=force, real_paths=real_paths,
                  inherit_env=inherit_env, keep=keep, reuse=reuse,
                  parallel=parallel, s3_endpoint=s3_endpoint,
                  echo=lambda line: click.echo(line, err=True))
        return
    if reuse:
        raise UsageError("--reuse reuses this machine's stage results: run with --local, or "
                         "use --cache on Kubeflow")
    from ..kubeflow import submit

    # Fail before submitting, not after a long run: local -o folders must be usable.
    check_local_destinations(output_map.values(), force=force)
    token, token_file = token_choice(token, token_file)
    handle = submit(target, pipeline=pipeline, host=host, namespace=namespace, token=token,
                    token_file=token_file, ca_cert=ca_cert,
                    experiment=experiment, run_name=run_name, inputs=input_map,
                    from_version=from_version, s3_endpoint=s3_endpoint, cache=cache,
                    parallel=parallel, echo=lambda line: click.echo(line, err=True),
                    upload=upload_first)
    click.echo(handle.run_id)
    if not wait:
        return
    handle.wait(timeout=timeout, echo=lambda line: click.echo(line, err=True))
    if output_map:
        for name, dest in handle.outputs(output_map, force=force).items():
            click.echo(f"{name}: {dest}", err=True)
    sys.stdout.flush()


COMMANDS = (run,)

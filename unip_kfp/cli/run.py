"""`unip-kfp run`: on this machine by default, on Kubeflow with `--host`/`KF_PIPELINES_ENDPOINT`.

Where it runs is decided by the API (`unip_kfp.run`, its rule is `on_kubeflow`), not here:
this module parses the options, calls `run` once and prints the Kubeflow run's id on stdout.
"""

from __future__ import annotations

import sys

import click

from ..launch.arguments import command_line
from ..project import Project, on_kubeflow
from ..project import run as run_pipeline
from .auth_options import kubeflow_auth_options, token_choice
from .common import handle_errors, parse_pairs, project_options


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
@project_options(packages=True, keep_config=True)
@handle_errors
@command_line()  # messages name inputs and outputs as `-i x` / `-o y`
def run(target: Project | str, pipeline: str | None, inputs: tuple[str, ...],
        outputs: tuple[str, ...], force_local: bool, workdir: str | None, jobs: int | None,
        force: bool, real_paths: bool, inherit_env: bool, keep: bool, parallel: bool,
        cache: bool, host: str | None, namespace: str | None, experiment: str | None,
        run_name: str | None, token: str | None, wait: bool, timeout: float | None,
        from_version: str | None, s3_endpoint: str | None, config: str | None,
        token_file: str | None = None, ca_cert: str | None = None, reuse: bool = False,
        upload_first: bool = False) -> None:
    """Run a pipeline: here (default) or on Kubeflow (--host)."""
    input_map = parse_pairs("-i", inputs)
    output_map = parse_pairs("-o", outputs)
    if on_kubeflow(target, local=force_local, host=host, config=config,
                   from_version=from_version):  # only a Kubeflow run reads a token
        token, token_file = token_choice(token, token_file)
    run_pipeline(target, pipeline=pipeline, inputs=input_map, outputs=output_map,
                 local=force_local, host=host, config=config, workdir=workdir, jobs=jobs,
                 real_paths=real_paths, inherit_env=inherit_env, keep=keep, reuse=reuse,
                 namespace=namespace, token=token, token_file=token_file, ca_cert=ca_cert,
                 experiment=experiment, run_name=run_name, from_version=from_version,
                 upload=upload_first, cache=cache, wait=wait, timeout=timeout,
                 on_submitted=lambda handle: click.echo(handle.run_id), force=force,
                 parallel=parallel, s3_endpoint=s3_endpoint,
                 echo=lambda line: click.echo(line, err=True))
    sys.stdout.flush()


COMMANDS = (run,)

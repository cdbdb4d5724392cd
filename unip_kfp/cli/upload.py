"""`unip-kfp upload`: put a pipeline package on Kubeflow as a pipeline or a new version.

The work is `unip_kfp.kubeflow.versions.upload`; kfp is imported only when the command runs.
"""

from __future__ import annotations

import json

import click

from ..project import Project
from .auth_options import kubeflow_auth_options, token_choice
from .common import handle_errors, project_options


@click.command()
@click.argument("path")
@click.option("--pipeline", help="Which pipeline, when PATH holds several.")
@click.option("--pipeline-name", help="Name on Kubeflow (default: the pipeline's name).")
@click.option("--description", help="Description shown in the UI.")
@click.option("--host", help="Kubeflow Pipelines API (default: KF_PIPELINES_ENDPOINT).")
@click.option("--namespace", help="Kubeflow namespace (profile) that owns the pipeline.")
@click.option("--token", help="Bearer token for the Kubeflow API (unsafe: use --token-file).")
@kubeflow_auth_options
@click.option("--parallel", is_flag=True, help="Compile with data dependencies only.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@project_options(packages=True)
@handle_errors
def upload(target: Project | str, pipeline: str | None, pipeline_name: str | None,
           description: str | None, host: str | None, namespace: str | None,
           token: str | None, parallel: bool, fmt: str, token_file: str | None = None,
           ca_cert: str | None = None) -> None:
    """Upload PATH (manifests or a package): a new pipeline, a new version, or nothing.

    The version is named after the package's content hash, so uploading an unchanged
    package creates nothing. Prints the pipeline and version ids; run the version with
    `unip-kfp run PATH --from-version VERSION_ID`.
    """
    from ..kubeflow.versions import upload as upload_package

    token, token_file = token_choice(token, token_file)
    result = upload_package(
        target, host=host, pipeline_name=pipeline_name, namespace=namespace, token=token,
        token_file=token_file, ca_cert=ca_cert,
        pipeline=pipeline, description=description, parallel=parallel,
        echo=lambda line: click.echo(line, err=True),
    )
    if fmt == "json":
        click.echo(json.dumps(result._asdict()))
    else:
        click.echo(f"pipeline_id: {result.pipeline_id}")
        click.echo(f"version_id: {result.version_id}")


COMMANDS = (upload,)

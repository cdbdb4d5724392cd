"""`unip-kfp compile` and `unip-kfp components`."""

from __future__ import annotations

import click

from ..project import Project
from .common import handle_errors, project_options


@click.command()
@click.argument("path")
@click.option("--pipeline", help="Compile only this pipeline.")
@click.option("-o", "--output", help="Package file (one pipeline) or folder. Default: '.'")
@click.option("--cache", is_flag=True, help="Let Kubeflow reuse cached stage results.")
@click.option(
    "--parallel",
    is_flag=True,
    help="Keep only data dependencies (stages otherwise run in manifest order).",
)
@click.option("--force", is_flag=True, help="Overwrite an output file that is not a package.")
@project_options()
@handle_errors
def compile(
    project: Project,
    pipeline: str | None,
    output: str | None,
    cache: bool,
    parallel: bool,
    force: bool,
) -> None:
    """Compile ExperimentPipeline manifests into Kubeflow pipeline packages."""
    for package in project.compile(
        output or ".", pipeline=pipeline, cache=cache, parallel=parallel, force=force
    ):
        click.echo(f"{package.path}  ({package.pipeline}, sha256 {package.sha256[:12]})")


@click.command()
@click.argument("path")
@click.option("--pipeline", help="Only this pipeline's stages.")
@click.option("-o", "--output", required=True, help="Folder for the component YAMLs.")
@click.option("--force", is_flag=True, help="Overwrite files that are not KFP YAML.")
@project_options()
@handle_errors
def components(project: Project, pipeline: str | None, output: str, force: bool) -> None:
    """Write one reusable KFP component YAML per stage."""
    for written in project.components(output, pipeline=pipeline, force=force):
        click.echo(written)


COMMANDS = (compile, components)

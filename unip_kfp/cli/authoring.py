"""`unip-kfp schema`, `unip-kfp graph` and `unip-kfp init`: help while writing a module."""

from __future__ import annotations

import os
import shlex

import click

from ..authoring.scaffold import create_module
from ..errors import UsageError
from ..manifests import json_schemas as schemas
from ..project import Project
from ..views import graph as graphs
from .common import handle_errors, project_options


@click.command()
@click.argument("kind", required=False)
@click.option(
    "--write",
    "folder",
    type=click.Path(file_okay=False),
    metavar="FOLDER",
    help="Write every schema into FOLDER (e.g. schemas/) instead of printing one.",
)
@handle_errors
def schema(kind: str | None, folder: str | None) -> None:
    """Print the JSON Schema of a manifest KIND (default: any manifest) or of unip-kfp.yaml.

    KIND is ExperimentPipeline, APIComponent, DataBox, manifest or unip-kfp.yaml. Editors
    use the schemas for completion and hover docs; the first line of a manifest binds one:

    \b
        # yaml-language-server: $schema=../schemas/experiment-pipeline.schema.json
    """
    if folder is not None:
        if kind is not None:
            raise UsageError("--write writes every schema; leave out KIND")
        for path in schemas.write_schemas(folder):
            click.echo(path)
        return
    click.echo(schemas.schema_text(schemas.find_kind(kind or "manifest")), nl=False)


@click.command()
@click.argument("path")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(graphs.FORMATS),
    default="mermaid",
    show_default=True,
    help="svg needs Graphviz's `dot`.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.option("--pipeline", help="Which pipeline, when PATH holds several.")
@click.option("--parallel", is_flag=True, help="Only data edges (as compile --parallel).")
@project_options()
@handle_errors
def graph(project: Project, fmt: str, output: str | None, pipeline: str | None,
          parallel: bool) -> None:
    """Draw the planned DAG: stages, inputs and outputs with their types, mounts, edges."""
    content = graphs.render(graphs.build(project.pipeline(pipeline), parallel=parallel), fmt)
    if output is None:
        click.echo(content.decode("utf-8"), nl=False)
        return
    try:
        with open(output, "wb") as handle:
            handle.write(content)
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write: {exc.strerror}") from None
    click.echo(output)


@click.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--name", help="Module and pipeline name (default: from FOLDER's name).")
@click.option("--namespace", help="The application's namespace (default: the name).")
@handle_errors
def init(folder: str, name: str | None, namespace: str | None) -> None:
    """Create a working module in FOLDER (default: here); never overwrites a file."""
    created = create_module(folder, name, namespace)
    shown = "./" if os.path.abspath(folder) == os.getcwd() else folder.rstrip("/") + "/"
    tops = sorted({path.split("/")[0] + ("/" if "/" in path else "") for path in created.files})
    click.echo(
        f"unip-kfp: created the module '{created.name}' (namespace '{created.namespace}') "
        f"in {shlex.quote(shown)}: {len(created.files)} files in {' '.join(tops)}"
    )
    click.echo(f"next, in {shlex.quote(shown)}:")
    for command in created.commands:
        click.echo(f"  {command}")


COMMANDS = (schema, graph, init)

"""`unip-kfp schema`, `unip-kfp graph` and `unip-kfp init`: help while writing a module."""

from __future__ import annotations

import click

from . import schema as schemas
from .cli import handle_errors
from .errors import UsageError


@click.command()
@click.argument("kind", required=False)
@click.option("--write", "folder", type=click.Path(file_okay=False),
              help="Write every schema into FOLDER (e.g. schemas/) instead of printing one.")
@handle_errors
def schema(kind: str | None, folder: str | None) -> None:
    """Print the JSON Schema of a manifest KIND (default: any manifest) or of unip-kfp.yaml.

    KIND is ExperimentPipeline, APIComponent, DataBox, manifest or unip-kfp.yaml. Editors
    use it for completion and hover docs: put `# yaml-language-server: $schema=<file>` on
    the first line of a manifest.
    """
    if folder is not None:
        if kind is not None:
            raise UsageError("--write writes every schema; leave out KIND")
        for path in schemas.write_schemas(folder):
            click.echo(path)
        return
    click.echo(schemas.schema_text(schemas.find_kind(kind or "manifest")), nl=False)


COMMANDS = (schema,)

"""`unip-kfp validate` and `unip-kfp plan`: check manifests, and show what they will become."""

from __future__ import annotations

import sys

import click

from ..errors import EXIT_INVALID
from ..project import Project, check
from . import render
from .common import LoadOptions, handle_errors, load_options, project_options


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@load_options
def validate(paths: tuple[str, ...], fmt: str, options: LoadOptions) -> None:
    """Check manifests (files or folders) and unip-kfp.yaml; report every problem at once.

    Takes the options of `plan` and `compile` and runs every rule they refuse by, so exit 0
    here means they succeed with the same options (`--user` changes no rule).
    """
    strict = options.strict
    issues = check(list(paths), boxes=options.boxes, config=options.config)
    failed = any(i.severity.value == "error" or strict for i in issues)
    if fmt == "json":
        click.echo(render.issues_json(issues, ok=not failed))
    elif issues:
        click.echo(render.issues_text(issues), err=True)
    if failed:
        if fmt == "text":
            errors = sum(1 for i in issues if i.severity.value == "error" or strict)
            click.echo(f"{errors} error(s); the manifests are invalid", err=True)
        sys.exit(EXIT_INVALID)
    if fmt == "text":
        click.echo(f"ok: {', '.join(paths)}")


@click.command()
@click.argument("path")
@click.option("--pipeline", help="Plan only this pipeline.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@project_options()
@handle_errors
def plan(project: Project, pipeline: str | None, fmt: str) -> None:
    """Show what the pipeline will be on Kubeflow: parameters, stages, outputs, order."""
    chosen = project.plan.select(pipeline)
    if fmt == "json":
        click.echo(render.plan_json(chosen))
    else:
        click.echo("\n\n".join(render.plan_text(p) for p in chosen))


COMMANDS = [validate, plan]

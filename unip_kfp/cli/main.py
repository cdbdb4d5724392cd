"""The `unip-kfp` command: a thin layer over the Python API.

Each command module parses options, calls the API, renders the result and maps errors to
the exit-code contract in `errors.py`; this module only gathers them into one group. kfp is
imported only inside the commands that need it.
"""

from __future__ import annotations

import click

from . import authoring, cache, check, cluster, compile, connect, operate, run, schedule, upload


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unip-kfp")
def main() -> None:
    """Run UNIP ExperimentPipeline manifests on Kubeflow Pipelines v2, or on this machine."""


for _module in (check, compile, run, upload, operate, schedule, authoring, cluster, connect,
                cache):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]

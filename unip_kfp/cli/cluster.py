"""`unip-kfp cluster-config`: the namespace objects a module needs, as Kubernetes YAML.

The work is `unip_kfp.kubeflow.cluster_config`; this module finds the current `kfp-launcher`
(`--current FILE`, else the Kubernetes API when it is reachable) and writes the stream.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
import yaml

from ..errors import UsageError
from ..plan.launcher_credentials import pipeline_root
from ..project import Project
from .common import handle_errors, project_options

if TYPE_CHECKING:
    from ..kubeflow.cluster_config import Current


@click.command("cluster-config")
@click.argument("path")
@click.option("--namespace", help="Profile namespace of the objects (default: kubeflow.namespace).")
@click.option("--current", "current_file", type=click.Path(dir_okay=False),
              help="The current kfp-launcher (kubectl get configmap kfp-launcher -o yaml), "
                   "'-' for stdin; default: read it from the Kubernetes API when reachable.")
@click.option("--s3-endpoint", help="S3 endpoint as the launcher reaches it in the cluster.")
@click.option("--kubernetes-manifests", is_flag=True,
              help="Add KFP's Kubernetes-native Pipeline and PipelineVersion objects.")
@click.option("--pipeline", help="Only this pipeline.")
@click.option("--cache", is_flag=True, help="Compile the manifests' package with caching on.")
@click.option("--parallel", is_flag=True, help="Compile with data dependencies only.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@project_options()
@handle_errors
def cluster_config(project: Project, namespace: str | None, current_file: str | None,
                   s3_endpoint: str | None, kubernetes_manifests: bool, pipeline: str | None,
                   cache: bool, parallel: bool, output: str | None) -> None:
    """Write the Kubernetes objects PATH needs in its namespace (for GitOps or kubectl apply).

    kfp-launcher comes merged with the current object, never as a replacement; Secrets come
    as commented templates (names and keys, never values).
    """
    from ..kubeflow.cluster_config import kubernetes_manifests as k8s_manifests
    from ..kubeflow.cluster_config import render

    settings = project.settings.config
    namespace = namespace or settings.kubeflow.namespace
    plans = project.plan.select(pipeline)
    current = _current(current_file, namespace)
    endpoint = s3_endpoint or settings.s3.endpoint
    if endpoint and any(h in endpoint for h in ("localhost", "127.0.0.1", "[::1]")):
        click.echo(f"warning: S3 endpoint {endpoint} is this machine; the launcher runs in the "
                   "cluster: pass its in-cluster endpoint with --s3-endpoint", err=True)
    manifests = [m for p in plans for m in k8s_manifests(p, namespace, cache=cache,
                                                         parallel=parallel)
                 ] if kubernetes_manifests else []
    text, notes = render(plans, namespace=namespace, current=current,
                         credentials=settings.kubeflow.credentials, endpoint=endpoint,
                         region=settings.s3.region, root=pipeline_root(project.settings),
                         manifests=manifests)
    for note in notes:
        click.echo(note, err=True)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(text)


def _current(current_file: str | None, namespace: str | None) -> Current:
    """The current kfp-launcher: from the file, else the Kubernetes API, else unknown."""
    from ..kubeflow.cluster_config import Current
    from ..kubeflow.kube import Kube, KubeError

    if current_file:
        try:
            if current_file == "-":
                obj = yaml.safe_load(sys.stdin)
            else:
                with open(current_file, encoding="utf-8") as stream:
                    obj = yaml.safe_load(stream)
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"--current {current_file}: {exc}") from None
        if not isinstance(obj, dict) or obj.get("kind") != "ConfigMap":
            raise UsageError(f"--current {current_file}: not a ConfigMap (kubectl get "
                             "configmap kfp-launcher -o yaml)")
        return Current(True, obj, f"--current {current_file}")
    kube = Kube.connect() if namespace else None
    if kube is None:
        return Current(False)
    try:
        obj = kube.config_map(namespace or "")
        return Current(True, obj, f"the Kubernetes API ({kube.source})")
    except KubeError as exc:
        click.echo(f"note: {exc}; kfp-launcher is written as comments", err=True)
        return Current(False)


COMMANDS = (cluster_config,)

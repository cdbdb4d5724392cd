"""Pod names of a run's Argo nodes, derived the way Argo names them (``POD_NAMES=v2``).

KFP 2.17 runs a pipeline as an Argo workflow and never tells us its pods: a task detail has
no pod name, and ``child_tasks[].pod_name`` holds Argo **node ids**. The names follow from
the layout instead (sources: argoproj/argo-workflows v4.0.5, the version KFP 2.17's go.mod
pins, and the KFP 2.17.0 backend):

* ``workflow/controller/dag.go`` ``taskNodeName``: a DAG task's node is named
  ``<DAG node name>.<task name>``; the workflow's root node is named like the workflow.
* ``pkg/apis/workflow/v1alpha1/workflow_types.go`` ``Workflow.NodeID``: node id
  ``<workflow>-<fnv32a(node name)>``.
* ``workflow/util/pod_name.go`` ``GeneratePodName`` (v2, Argo's default): pod
  ``<workflow>-<template>-<fnv32a(node name)>``, the ``<workflow>-<template>`` prefix cut to
  242 bytes; KFP's ``backend/src/common/util/workflow.go`` ``RetrievePodName`` does the same
  from a node id's hash.
* ``backend/src/v2/compiler/argocompiler``: the entrypoint DAG runs task ``root`` (the
  pipeline's root DAG); a container task ``<key>`` is a DAG (``system-container-executor``)
  whose task ``executor`` is the pod running the user's container, named ``main``, from
  template ``system-container-impl`` (``container.go`` ``addContainerExecutorTemplate``:
  ``retry-`` with a retry policy, ``metadata-<annotations>-<labels>-`` with pod metadata).

So stage ``stage1`` of workflow ``my-pipeline-x7k2p`` logs in pod
``my-pipeline-x7k2p-system-container-impl-<fnv32a("my-pipeline-x7k2p.root.stage1.executor")>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

EXECUTOR_TEMPLATE = "system-container-impl"
EXECUTOR_CONTAINER = "main"
_MAX_PREFIX = 253 - 10 - 1  # maxK8sResourceNameLength - k8sNamingHashLength - 1


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits, over the UTF-8 bytes (Go's ``hash/fnv.New32a``)."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def node_name(workflow: str, *tasks: str) -> str:
    """The Argo node name of a task path below the workflow: ``wf.root.stage1.executor``."""
    return ".".join((workflow, *tasks))


def node_id(workflow: str, name: str) -> str:
    """``Workflow.NodeID``: the workflow's own node keeps its name, others get a hash."""
    return workflow if name == workflow else f"{workflow}-{fnv32a(name)}"


def pod_name(workflow: str, name: str, template: str) -> str:
    """``GeneratePodName`` v2 for the node ``name`` run from ``template``."""
    if name == workflow:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    cut = prefix.encode()[:_MAX_PREFIX].decode(errors="ignore")
    return f"{cut}-{fnv32a(name)}"


def executor_template(task: dict[str, Any], executor_config: dict[str, Any] | None) -> str:
    """The template of a container task's pod: retry and pod-metadata variants included."""
    template = EXECUTOR_TEMPLATE
    if task.get("retryPolicy"):
        template = "retry-" + template
    metadata = (executor_config or {}).get("podMetadata")
    if metadata is not None:
        annotations, labels = metadata.get("annotations") or {}, metadata.get("labels") or {}
        template = f"metadata-{len(annotations)}-{len(labels)}-{template}"
    return template


def stage_pod(workflow: str, key: str, template: str = EXECUTOR_TEMPLATE) -> str:
    """The pod that runs the user's container of root-DAG task ``key``."""
    return pod_name(workflow, node_name(workflow, "root", key, "executor"), template)


def stage_templates(spec: dict[str, Any], platform: dict[str, Any] | None = None
                    ) -> dict[str, str]:
    """Executor template per container task key of the root DAG, from the package."""
    components = spec.get("components") or {}
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    configs = ((((platform or {}).get("platforms") or {}).get("kubernetes") or {})
               .get("deploymentSpec") or {}).get("executors") or {}
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    found = {}
    for key, task in tasks.items():
        label = components.get((task.get("componentRef") or {}).get("name"), {}).get(
            "executorLabel")
        if "container" in executors.get(label, {}):
            found[key] = executor_template(task, configs.get(label))
    return found


def workflow_name(child_ids: Iterable[str]) -> str | None:
    """The workflow's name from node ids seen in ``child_tasks`` (``<workflow>-<hash>``)."""
    prefixes = Counter(i.rsplit("-", 1)[0] for i in child_ids
                       if "-" in i and i.rsplit("-", 1)[1].isdigit())
    return prefixes.most_common(1)[0][0] if prefixes else None


def logs_command(pod: str, namespace: str | None) -> str:
    """The ``kubectl`` line that shows a stage's log (its container is ``main``)."""
    where = f" -n {namespace}" if namespace else ""
    return f"kubectl logs{where} {pod} -c {EXECUTOR_CONTAINER}"

"""Argo pod names, stage states among Argo nodes, and error answers by meaning (units).

`unip_kfp.kubeflow.pods` and `stages` are checked against Argo's own test vectors and
against the fake server's independent layout (`kfp_fake_argo`), `server_errors` against the
bodies the fake builds as the KFP 2.17 backend does (`kfp_fake_errors`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from support.kfp_fake_argo import ArgoWorkflow, RunStep
from support.kfp_fake_errors import (
    ApiError,
    internal,
    invalid_input,
    invalid_input_with_details,
    not_found,
    upload_error,
)
from support.kfp_fake_runs import refuse_creation

from unip_kfp.errors import CompileError, RunFailedError, UnreachableError, UsageError
from unip_kfp.kubeflow.pods import (
    executor_template,
    fnv32a,
    logs_command,
    node_id,
    pod_name,
    stage_pod,
    stage_templates,
    workflow_name,
)
from unip_kfp.kubeflow.server_errors import KubeflowUnavailable, api_error, read_answer
from unip_kfp.kubeflow.stages import NOT_RUN, stage_keys, stage_states, was_canceled, when

ROOT = Path(__file__).resolve().parent.parent
WF = "my-pipeline-x7k2p"


def obj(value: Any) -> Any:
    """API JSON as attribute objects, like kfp's models (timestamps stay strings)."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: obj(v) for k, v in value.items()})
    if isinstance(value, list):
        return [obj(v) for v in value]
    return value


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    import unip_kfp

    (package,) = unip_kfp.load(str(ROOT / "examples" / "train-test" / "manifests")).compile()
    return dict(yaml.safe_load(package.content.decode()))


def run_of(spec: Any, *steps: RunStep, name: str = WF) -> tuple[Any, ArgoWorkflow]:
    """A run as the API shows it after the fake workflow reported `steps`."""
    workflow = ArgoWorkflow(spec, name)
    for step in steps:
        workflow.report(step, "2026-01-01T10:00:00Z")
    tasks = workflow.task_details("r", "2026-01-01T09:59:59Z")
    state = "CANCELING" if steps[-1].terminating else steps[-1].state
    return obj({"run_id": "r", "state": state,
                "run_details": {"task_details": tasks}}), workflow


def test_argo_names() -> None:
    # FNV-1a 32 test vectors, then workflow/util/pod_name_v2_test.go's cases.
    assert (fnv32a(""), fnv32a("a"), fnv32a("foobar")) == (0x811C9DC5, 0xE40C292C, 0xBF9CF968)
    assert pod_name("wfname", "nodename", "templatename") == \
        f"wfname-templatename-{fnv32a('nodename')}"
    long_wf, long_tmpl = "w" * 130, "t" * 140
    cut = pod_name(long_wf, "nodename", long_tmpl)
    assert cut == f"{(long_wf + '-' + long_tmpl)[:242]}-{fnv32a('nodename')}"
    assert pod_name("wfname", "stp.inline", "") == f"wfname-{fnv32a('stp.inline')}"
    assert pod_name(WF, WF, "entrypoint") == WF and node_id(WF, WF) == WF
    assert node_id(WF, f"{WF}.root") == f"{WF}-{fnv32a(WF + '.root')}"
    assert stage_pod(WF, "stage1") == \
        f"{WF}-system-container-impl-{fnv32a(WF + '.root.stage1.executor')}"
    assert workflow_name([f"{WF}-12", f"{WF}-345", "junk"]) == WF
    assert workflow_name([]) is None
    assert logs_command("p", "team-a") == "kubectl logs -n team-a p -c main"


def test_executor_templates() -> None:
    """argocompiler container.go addContainerExecutorTemplate."""
    assert executor_template({}, None) == "system-container-impl"
    assert executor_template({"retryPolicy": {"maxRetryCount": 2}}, None) == \
        "retry-system-container-impl"
    meta = {"podMetadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"c": "3"}}}
    assert executor_template({"retryPolicy": {"maxRetryCount": 1}}, meta) == \
        "metadata-1-2-retry-system-container-impl"
    assert executor_template({}, {"podMetadata": {}}) == "metadata-0-0-system-container-impl"


def test_pod_names_agree_with_the_fake_layout(spec: dict[str, Any]) -> None:
    """The product's derivation and the fake's own reading of Argo give the same pods."""
    changed = copy.deepcopy(spec)
    changed["root"]["dag"]["tasks"]["stage2"]["retryPolicy"] = {"maxRetryCount": 1}
    label = changed["components"]["comp-stage1"]["executorLabel"]
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        label: {"podMetadata": {"labels": {"team": "a"}}}}}}}}
    templates = stage_templates(changed, platform)
    assert templates == {"stage1": "metadata-0-1-system-container-impl",
                         "stage2": "retry-system-container-impl"}
    run, workflow = run_of({"pipeline_spec": changed, "platform_spec": platform},
                           RunStep("SUCCEEDED"))
    pods = workflow.pod_names()
    for key in ("stage1", "stage2"):
        assert stage_pod(WF, key, templates[key]) == workflow.stage_pod(key)
        assert workflow.stage_pod(key) in pods.values()


def test_stage_states_from_argo_nodes(spec: dict[str, Any]) -> None:
    keys = stage_keys(spec)
    run, _ = run_of(spec, RunStep("RUNNING", {"stage1": "RUNNING"}))
    states = stage_states(run, keys)
    assert states["stage1"].state == "RUNNING" and states["stage1"].ended is None  # year 1
    assert states["stage1"].started is not None and states["stage2"].state is None

    failed, _ = run_of(spec, RunStep("RUNNING", {"stage1": "RUNNING"}),
                       RunStep("FAILED", {"stage1": "FAILED"}))
    states = stage_states(failed, keys)
    assert states["stage1"].state == "FAILED" and states["stage1"].ended is not None
    assert states["stage2"].state == NOT_RUN  # Omitted: no state field

    skipped, _ = run_of(spec, RunStep("SUCCEEDED", {"stage2": "SKIPPED"}))
    assert stage_states(skipped, keys)["stage2"].state == NOT_RUN
    driver, _ = run_of(spec, RunStep("FAILED", {"stage1": "OMITTED", "stage1-driver": "FAILED"}))
    assert stage_states(driver, keys)["stage1"].in_driver
    pending, _ = run_of(spec, RunStep("RUNNING", {"stage1": "PENDING"}))
    assert stage_states(pending, keys)["stage1"].state == "PENDING"
    assert when("0001-01-01T00:00:00Z") is None and when("1970-01-01T00:00:00Z") is None
    assert when("2026-01-01T10:00:00Z") is not None


def test_stages_keyed_like_argo_tasks_are_told_apart() -> None:
    """Stages keyed `root` and `executor` share names with the argocompiler's own nodes."""
    container = {"container": {"image": "alpine"}}
    spec = {
        "pipelineInfo": {"name": "clash"}, "schemaVersion": "2.1.0",
        "components": {"comp-a": {"executorLabel": "exec-a"}},
        "deploymentSpec": {"executors": {"exec-a": container}},
        "root": {"dag": {"tasks": {
            "root": {"componentRef": {"name": "comp-a"}, "taskInfo": {"name": "root"}},
            "executor": {"componentRef": {"name": "comp-a"}, "taskInfo": {"name": "executor"},
                         "dependentTasks": ["root"]}}}},
    }
    keys = stage_keys(spec)
    assert list(keys) == ["root", "executor"]
    run, _ = run_of(spec, RunStep("RUNNING", {"root": "SUCCEEDED", "executor": "PENDING"}),
                    name="clash-abcde")
    states = stage_states(run, keys)
    assert (states["root"].state, states["executor"].state) == ("SUCCEEDED", "PENDING")
    run, _ = run_of(spec, RunStep("RUNNING", {"root": "SUCCEEDED", "executor": "RUNNING"}),
                    name="clash-abcde")
    states = stage_states(run, keys)
    assert (states["root"].state, states["executor"].state) == ("SUCCEEDED", "RUNNING")


def test_cancel_is_read_from_the_history() -> None:
    history = [obj({"state": s}) for s in ("PENDING", "RUNNING", "CANCELING", "FAILED")]
    assert was_canceled(SimpleNamespace(state="FAILED", state_history=history))
    assert not was_canceled(SimpleNamespace(state="FAILED", state_history=history[:2]))
    assert was_canceled(SimpleNamespace(state="CANCELING", state_history=None))


def answer(error: ApiError) -> SimpleNamespace:
    """An `ApiException` as kfp raises it for `error`."""
    import json

    return SimpleNamespace(status=error.status, body=json.dumps(error.body()), reason="x")


@pytest.mark.parametrize("error, kind, expected, words", [
    (refuse_creation(internal(not_found("PipelineVersion", "v1"),
                              "Failed to create a run due to error fetching manifest")),
     UsageError, 500, "PipelineVersion v1 not found"),
    (refuse_creation(internal(invalid_input("Run name cannot be empty"), "Failed to convert")),
     UsageError, 500, "Run name cannot be empty"),
    (refuse_creation(internal(invalid_input_with_details(
        "pipeline spec is invalid", "unknown template format"), "Failed to fetch")),
     CompileError, 500, "unknown template format: pipeline spec is invalid"),
    (refuse_creation(invalid_input("parameter x is not optional, yet has neither default "
                                   "value nor user provided value"), "Failed to generate"),
     UsageError, 400, "parameter x is not optional"),
    (upload_error(400, "KFP only supports schema version 2.1.0, but the pipeline spec has "
                       "version 2.0.0"), CompileError, 400, "KFP only supports schema"),
    (ApiError(13, "database is locked", "Internal Server Error"), KubeflowUnavailable, 500,
     "database is locked"),
    (ApiError(13, "Failed to create a workflow", go_error=True), KubeflowUnavailable, 500,
     "Internal error: Failed to create a workflow"),
    (upload_error(500, "Failed to create a pipeline"), KubeflowUnavailable, 500,
     "Failed to create a pipeline"),
    (ApiError(7, "PermissionDenied: no access", "no access"), UnreachableError, 403,
     "no access"),
    (ApiError(6, "Already exist error: taken", "taken"), RunFailedError, 409, "taken"),
])
def test_errors_by_meaning(error: ApiError, kind: type, expected: int, words: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNIP_KFP_DEBUG", raising=False)
    assert error.status == expected
    mapped = api_error(answer(error), "creating run 'r'", "http://kfp")
    assert type(mapped) is kind, mapped
    assert words in str(mapped)
    assert ".go:" not in str(mapped) and "goexit" not in str(mapped)


def test_debug_shows_the_whole_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    error = upload_error(500, "Failed to create a pipeline")
    monkeypatch.setenv("UNIP_KFP_DEBUG", "1")
    assert "pipeline_upload_server.go:187" in str(api_error(answer(error), "uploading", "h"))
    assert read_answer(502, b"<html>bad gateway</html>").message == ""
    not_api = api_error(answer(ApiError(5, "Not Found")), "connecting", "h", UnreachableError)
    assert type(not_api) is UnreachableError  # while connecting, a refusal: not the KFP API
    assert read_answer(400, b"Namespace is required\n").kind == "invalid"

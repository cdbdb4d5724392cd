"""Runs on the fake KFP API server, driven by the real ``kfp.Client`` 2.17.

Each test names the KFP 2.17.0 backend source its behaviour comes from; all of it was
checked against the real 2.17 API server in single-user mode (research note
``kfp-2.17-backend-check.md``), with Argo's node statuses simulated.
"""

import re
from pathlib import Path

import kfp
import pytest
import yaml
from kfp import compiler
from support.kfp_api_server import (
    KfpApiServer,
    RunStep,
    canceled_script,
    failing_script,
    stuck_script,
)
from support.kfp_client import EPOCH, ZERO, _needs, failure, raw
from support.kfp_fake_argo import fnv32a, node_id, pod_name

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def test_run_from_package_reads_back_like_2_17(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    args = {"msg": "hello", "lr": 0.5}
    result = client.create_run_from_pipeline_package(
        str(package), arguments=args, run_name="run 1", experiment_name="unip exp",
        pipeline_root="minio://mlpipeline/v2/artifacts")
    body = kfp_server.calls("POST", "/runs")[0].json
    assert body["runtime_config"] == {"parameters": args,
                                      "pipeline_root": "minio://mlpipeline/v2/artifacts"}
    assert body["pipeline_spec"] == yaml.safe_load(package.read_text())
    record = kfp_server.runs[result.run_id]
    assert record.body == body and record.stages == ["train", "test"]

    # api_converter.go toApiRun: service_account (template.go setDefaultServiceAccount),
    # scheduled_at, state_history; finished_at 1970-01-01 until the end; never an error.
    created = raw(kfp_server, "/runs?page_size=5")["runs"][0]
    assert created["service_account"] == "pipeline-runner"
    assert created["scheduled_at"] == created["created_at"]
    assert created["finished_at"] == EPOCH and created["state"] == "PENDING"
    assert [h["state"] for h in created["state_history"]] == ["PENDING"]
    exp = raw(kfp_server, f"/experiments/{created['experiment_id']}")
    assert exp["last_run_created_at"] == created["created_at"]

    seen = [raw(kfp_server, f"/runs/{result.run_id}") for _ in range(4)]
    assert [r["state"] for r in seen] == ["RUNNING", "RUNNING", "SUCCEEDED", "SUCCEEDED"]
    assert seen[0]["finished_at"] == EPOCH and seen[-1]["finished_at"] != EPOCH
    assert [h["state"] for h in seen[-1]["state_history"]] == ["PENDING", "RUNNING",
                                                               "SUCCEEDED"]
    running = {t["display_name"]: t for t in seen[1]["run_details"]["task_details"]}
    # Task keys, not display names ("train"): the tasks are Argo nodes (kfp_fake_argo).
    assert {"echo", "echo-driver", "echo-2", "echo-2-driver", "executor", "root"} <= set(running)
    # api_converter.go toApiPipelineTaskDetail: timestamppb of Go's zero time for "not yet".
    assert running["echo-2"]["end_time"] == ZERO and running["echo-2"]["state"] == "RUNNING"
    assert running["echo"]["end_time"] != ZERO
    assert all("error" not in t for r in seen for t in r["run_details"]["task_details"])
    assert all("error" not in r for r in seen)
    assert seen[-1]["pipeline_spec"] == body["pipeline_spec"]



def test_task_details_are_argo_nodes(
    kfp_server: KfpApiServer, client: kfp.Client, example: Path
) -> None:
    """api_converter.go toModelTasks/toApiPipelineTaskDetail; argocompiler dag.go/container.go."""
    run = client.create_run_from_pipeline_package(
        str(example), arguments={"xy_train": "s3://b/t", "xy_test": "s3://b/v"}, run_name="r")
    kfp_server.set_run_script(run.run_id, ["SUCCEEDED"])
    tasks = raw(kfp_server, f"/runs/{run.run_id}")["run_details"]["task_details"]
    names = sorted(t["display_name"] for t in tasks)
    workflow = kfp_server.runs[run.run_id].workflow.name
    assert re.fullmatch(r"my-pipeline-[bcdfghjklmnpqrstvwxz2456789]{5}", workflow)
    assert len(tasks) == 19  # as the backend check counted for this example
    assert names == sorted([
        workflow, "root", "root-driver", "stage1-driver", "stage1", "stage2-driver", "stage2",
        "executor", "executor", "import-xy-train", "import-xy-test",
        "import-extra-parameters", "no-extra-parameters",
        "optional-extra-parameters-driver", "optional-extra-parameters",
        "extra-parameters-given-driver", "extra-parameters-given",
        "extra-parameters-not-given-driver", "extra-parameters-not-given"])
    by_name = {t["display_name"]: t for t in tasks}
    # the optional input's other branch (unip-kfp names kfp's condition-N tasks, uigraph.py)
    assert by_name["extra-parameters-not-given"]["state"] == "SKIPPED"
    assert all("pod_name" not in t for t in tasks)  # the API does not set a task's pod
    # child_tasks[].pod_name holds Argo node ids (Workflow.NodeID), not pod names.
    executor = f"{workflow}.root.stage1.executor"
    assert by_name["stage1"]["child_tasks"] == [{"pod_name": node_id(workflow, executor)}]
    assert node_id(workflow, executor) == f"{workflow}-{fnv32a(executor)}"
    assert by_name[workflow]["child_tasks"] == [
        {"pod_name": node_id(workflow, f"{workflow}.root-driver")}]
    pods = kfp_server.runs[run.run_id].workflow.pod_names()
    # workflow/util/pod_name.go GeneratePodName v2: <workflow>-<template>-<hash>.
    assert pods[executor] == f"{workflow}-system-container-impl-{fnv32a(executor)}"
    assert pods[f"{workflow}.root.stage1-driver"].startswith(f"{workflow}-system-container-driver-")
    assert (fnv32a("a"), fnv32a("foobar")) == (0xE40C292C, 0xBF9CF968)  # FNV-1a test vectors
    assert pod_name("w" * 300, "n", "t").startswith("w" * 242 + "-")  # prefix cut at 242



def test_failed_run_has_no_error_text_and_omits_later_stages(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    kfp_server.run_script = lambda stages: failing_script(stages, "train")
    run = client.create_run_from_pipeline_package(str(package), run_name="f")
    final = client.wait_for_run_completion(run.run_id, timeout=10, sleep_duration=0)
    # api_converter.go toApiRun / toApiPipelineTaskDetail never set error (only on a
    # conversion failure): the run and its tasks carry no error text.
    assert final.state == "FAILED" and final.error is None
    shown = raw(kfp_server, f"/runs/{run.run_id}")
    tasks = {t["display_name"]: t for t in shown["run_details"]["task_details"]}
    assert tasks["echo"]["state"] == "FAILED" and "error" not in tasks["echo"]
    # model/run.go ToV2: Argo's "Omitted" is no state at all, so the field is absent.
    assert "state" not in tasks["echo-2"] and "state" not in tasks["echo-2-driver"]
    assert [t["state"] for t in shown["run_details"]["task_details"]
            if t["display_name"] == "executor"] == ["FAILED"]
    with pytest.raises(ValueError, match="never reports CANCELED"):
        kfp_server.set_run_script(run.run_id, ["CANCELED"])
    with pytest.raises(ValueError, match="unknown Argo phase"):
        RunStep("RUNNING", {"train": "DONE"})



def test_terminate_ends_failed_through_canceling(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    kfp_server.run_script = stuck_script
    run = client.create_run_from_pipeline_package(str(package), run_name="s")
    assert {client.get_run(run.run_id).state for _ in range(3)} == {"RUNNING"}
    assert client.terminate_run(run.run_id) == {}
    # run_store.go TerminateRun: CANCELING at once, without a history entry.
    first = raw(kfp_server, f"/runs/{run.run_id}")
    assert first["state"] == "CANCELING"
    assert [h["state"] for h in first["state_history"]] == ["PENDING", "RUNNING"]
    # A second terminate finds no PENDING/RUNNING row: 400 "Row not found".
    status, body = failure(lambda: client.terminate_run(run.run_id))
    assert (status, body["code"]) == (400, 3) and "Row not found" in body["message"]
    # resource_manager.go ReportWorkflowResource: IsTerminating -> CANCELING; then Argo's
    # Failed -> FAILED. 2.17 maps only "CANCELED"/"Disabled" to CANCELED (model/run.go).
    states = [raw(kfp_server, f"/runs/{run.run_id}") for _ in range(2)]
    assert [s["state"] for s in states] == ["CANCELING", "FAILED"]
    assert [h["state"] for h in states[-1]["state_history"]] == [
        "PENDING", "RUNNING", "CANCELING", "FAILED"]
    tasks = {t["display_name"]: t for t in states[-1]["run_details"]["task_details"]}
    assert tasks["echo"]["state"] == "FAILED" and "echo-2" not in tasks  # never started
    status, body = failure(lambda: client.terminate_run(run.run_id))
    assert status == 400 and "Row not found" in body["message"]

    kfp_server.run_script = canceled_script  # someone else cancels
    other = client.create_run_from_pipeline_package(str(package), run_name="c")
    assert [client.get_run(other.run_id).state for _ in range(4)] == [
        "RUNNING", "CANCELING", "FAILED", "FAILED"]
    status, body = failure(lambda: client.get_run("missing"))
    assert (status, body["code"]) == (404, 5)



def test_user_errors_answer_500(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path, tmp_path: Path
) -> None:
    """resource_manager.go CreateRun wraps template errors in NewInternalServerError."""
    pipeline = client.upload_pipeline(str(package), pipeline_name="unip-demo")
    exp = client.create_experiment("e")

    status, body = failure(lambda: client.run_pipeline(
        exp.experiment_id, "r", pipeline_id=pipeline.pipeline_id, version_id="no-such-version"))
    assert (status, body["code"]) == (500, 13)
    assert "ResourceNotFoundError: PipelineVersion no-such-version not found" in body["message"]
    assert body["details"][0]["message"] == "Internal Server Error"

    first = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    status, body = failure(lambda: client.run_pipeline(  # api_converter.go toModelRun
        exp.experiment_id, "", pipeline_id=pipeline.pipeline_id,
        version_id=first.pipeline_version_id))
    assert status == 500 and "Run name cannot be empty" in body["message"]

    spec = yaml.safe_load(package.read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**spec, "schemaVersion": "2.0.0"}))
    status, body = failure(lambda: client.create_run_from_pipeline_package(str(bad),
                                                                           run_name="r"))
    assert status == 500  # template/v2_template.go NewV2SpecTemplate
    assert "KFP only supports schema version 2.1.0, but the pipeline spec has version 2.0.0" \
        in body["message"]

    needs = tmp_path / "needs.yaml"
    compiler.Compiler().compile(_needs, str(needs))
    # v2_template.go validatePipelineJobInputs: 400, code 3, with the parameter's name.
    status, body = failure(lambda: client.create_run_from_pipeline_package(str(needs),
                                                                           run_name="r"))
    assert (status, body["code"]) == (400, 3)
    assert body["details"][0]["message"] == (
        "parameter msg is not optional, yet has neither default value nor user provided value")
    status, body = failure(lambda: client.create_run_from_pipeline_package(
        str(needs), arguments={"msg": 3}, run_name="r"))
    assert status == 400 and "input parameter msg requires type string" in body["message"]
    status, body = failure(lambda: client.create_run_from_pipeline_package(
        str(needs), arguments={"msg": "x", "other": 1}, run_name="r"))
    assert status == 400 and "not required by pipeline: other" in body["message"]
    status, body = failure(lambda: client.list_runs(experiment_id="other"))
    assert status == 404  # run_server.go listRuns looks the experiment's namespace up
    assert not kfp_server.runs



def test_run_of_a_version_shows_only_its_reference(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    pipeline = client.upload_pipeline(str(package), pipeline_name="unip-demo")
    version = client.upload_pipeline_version(str(package), "v2", pipeline_id=pipeline.pipeline_id)
    exp = client.create_experiment("e")
    kfp_server.run_script = [
        ("RUNNING", {"train": "RUNNING"}),
        RunStep("RUNNING", {"train": "SUCCEEDED", "test": "RUNNING"}),
        ("SUCCEEDED", {"train": "SUCCEEDED", "test": "SUCCEEDED"}),
    ]
    run = client.run_pipeline(exp.experiment_id, "from version", pipeline_id=pipeline.pipeline_id,
                              version_id=version.pipeline_version_id, params={"msg": "x"})
    assert run.state == "PENDING" and run.pipeline_spec is None  # toApiRun: the reference only
    assert run.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id
    final = client.wait_for_run_completion(run.run_id, timeout=10, sleep_duration=0)
    assert final.state == "SUCCEEDED" and kfp_server.runs[run.run_id].polls == 3
    assert [r.run_id for r in client.list_runs(experiment_id=exp.experiment_id).runs] == [
        run.run_id]




"""The test servers themselves, driven by the real ``kfp.Client`` 2.17 and ``minio``.

If these pass, a test that uses ``kfp_server`` exercises the same HTTP calls, JSON
shapes and error types as a run against a real KFP backend would.
"""

import io
import json
from pathlib import Path

import kfp
import pytest
import yaml
from kfp import compiler, dsl
from kfp_api_server import (
    KfpApiServer,
    RunStep,
    canceled_script,
    failing_script,
    stuck_script,
)
from kfp_server_api import ApiException
from minio.commonconfig import CopySource
from s3_server import S3Endpoint, create_bucket

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


@dsl.container_component
def _echo(msg: str):
    return dsl.ContainerSpec(image="alpine", command=["echo"], args=[msg])


@dsl.pipeline(name="unip-demo")
def _demo(msg: str = "hi", lr: float = 0.1):
    first = _echo(msg=msg).set_display_name("train")
    _echo(msg="done").set_display_name("test").after(first)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pkg") / "unip_demo.yaml"
    compiler.Compiler().compile(_demo, str(path))
    return path


@pytest.fixture
def client(kfp_server: KfpApiServer, kfp_home: Path) -> kfp.Client:
    return kfp.Client(host=kfp_server.url)


def test_healthz_and_experiments(kfp_server: KfpApiServer, client: kfp.Client) -> None:
    assert client.get_kfp_healthz().multi_user is False
    kfp_server.multi_user = True
    assert client.get_kfp_healthz().multi_user is True

    exp = client.create_experiment("unip exp", description="d")
    assert exp.experiment_id == kfp_server.experiment_by_name("unip exp")["experiment_id"]
    assert client.create_experiment("unip exp").experiment_id == exp.experiment_id  # found
    assert len(kfp_server.calls("POST", "/experiments")) == 1
    assert kfp_server.calls("POST", "/experiments")[0].json == {
        "display_name": "unip exp",
        "description": "d",
        "namespace": "",
    }

    assert client.get_experiment(experiment_id=exp.experiment_id).display_name == "unip exp"
    assert client.get_experiment(experiment_name="unip exp").experiment_id == exp.experiment_id
    flt = json.loads(kfp_server.calls("GET", "/experiments")[-1].query["filter"])
    assert flt["predicates"][0]["stringValue"] == "unip exp"
    with pytest.raises(ValueError, match="No experiment is found"):
        client.get_experiment(experiment_name="nope")
    with pytest.raises(ApiException) as err:
        client.get_experiment(experiment_id="missing")
    assert err.value.status == 404 and json.loads(err.value.body)["code"] == 5
    # single-user mode has a Default experiment, as upstream
    names = {e.display_name for e in client.list_experiments().experiments}
    assert names == {"Default", "unip exp"}


def test_upload_pipeline_and_versions(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    pipeline = client.upload_pipeline(str(package), pipeline_name="unip-demo", description="d")
    upload = kfp_server.calls("POST", "/pipelines/upload")[0]
    assert upload.query == {"name": "unip-demo", "description": "d"}
    assert upload.files["uploadfile"].filename == "unip_demo.yaml"
    assert upload.files["uploadfile"].data == package.read_bytes()

    with pytest.raises(ApiException) as err:
        client.upload_pipeline(str(package), pipeline_name="unip-demo")
    assert err.value.status == 409

    version = client.upload_pipeline_version(
        str(package), "v2", pipeline_name="unip-demo", description="second"
    )
    assert version.pipeline_id == pipeline.pipeline_id
    assert kfp_server.versions[version.pipeline_version_id].package == package.read_bytes()
    assert version.pipeline_spec["pipelineInfo"]["name"] == "unip-demo"
    with pytest.raises(ApiException) as err:
        client.upload_pipeline_version(str(package), "v2", pipeline_id=pipeline.pipeline_id)
    assert err.value.status == 409

    listed = client.list_pipelines()
    assert [p.display_name for p in listed.pipelines] == ["unip-demo"]
    assert client.get_pipeline(pipeline.pipeline_id).name == "unip-demo"
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    assert [v.display_name for v in versions] == ["unip-demo", "v2"]  # upload makes version 1
    flt = json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "string_value": "v2"}]}
    )
    only = client.list_pipeline_versions(pipeline.pipeline_id, filter=flt).pipeline_versions
    assert [v.pipeline_version_id for v in only] == [version.pipeline_version_id]
    got = client.get_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    assert got.description == "second"
    assert client.get_pipeline_id("nope") is None  # empty list is omitted -> None


def test_run_from_package_records_body(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    args = {"msg": "hello", "lr": 0.5}
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments=args,
        run_name="run 1",
        experiment_name="unip exp",
        service_account="pipeline-runner",
        pipeline_root="minio://mlpipeline/v2/artifacts",
    )
    body = kfp_server.calls("POST", "/runs")[0].json
    assert body["runtime_config"] == {
        "parameters": args,
        "pipeline_root": "minio://mlpipeline/v2/artifacts",
    }
    assert body["pipeline_spec"] == yaml.safe_load(package.read_text())
    assert body["display_name"] == "run 1"
    assert body["service_account"] == "pipeline-runner"
    assert body["experiment_id"] == kfp_server.experiment_by_name("unip exp")["experiment_id"]
    record = kfp_server.runs[result.run_id]
    assert record.body == body
    assert record.stages == ["train", "test"]  # from taskInfo.name in the IR

    # default script: stages run in order, then SUCCEEDED; the last step sticks
    seen = [client.get_run(result.run_id) for _ in range(4)]
    assert [r.state for r in seen] == ["RUNNING", "RUNNING", "SUCCEEDED", "SUCCEEDED"]
    assert [(t.display_name, t.state) for t in seen[1].run_details.task_details] == [
        ("train", "SUCCEEDED"),
        ("test", "RUNNING"),
    ]
    done = seen[-1]
    assert done.finished_at is not None and done.created_at is not None
    assert all(
        t.end_time and t.start_time and t.create_time and t.task_id
        for t in done.run_details.task_details
    )


def test_run_pipeline_with_version_and_script(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    pipeline = client.upload_pipeline(str(package), pipeline_name="unip-demo")
    version = client.upload_pipeline_version(str(package), "v2", pipeline_id=pipeline.pipeline_id)
    exp = client.create_experiment("e")
    kfp_server.run_script = [
        ("RUNNING", {"prepare": "RUNNING"}),
        RunStep("RUNNING", {"prepare": "SUCCEEDED", "train": "RUNNING"}),
        ("SUCCEEDED", {"prepare": "SUCCEEDED", "train": "SUCCEEDED"}),
    ]
    run = client.run_pipeline(
        exp.experiment_id,
        "from version",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"msg": "x"},
    )
    assert run.state == "PENDING"
    body = kfp_server.runs[run.run_id].body
    assert body["pipeline_version_reference"] == {
        "pipeline_id": pipeline.pipeline_id,
        "pipeline_version_id": version.pipeline_version_id,
    }
    assert "pipeline_spec" not in body
    assert body["runtime_config"]["parameters"] == {"msg": "x"}

    final = client.wait_for_run_completion(run.run_id, timeout=10, sleep_duration=0)
    assert final.state == "SUCCEEDED"
    assert kfp_server.runs[run.run_id].polls == 3
    assert [t.display_name for t in final.run_details.task_details] == ["prepare", "train"]
    assert [h.state for h in final.state_history] == ["PENDING", "RUNNING", "SUCCEEDED"]

    runs = client.list_runs(experiment_id=exp.experiment_id).runs
    assert [r.run_id for r in runs] == [run.run_id]
    assert client.list_runs(experiment_id="other").runs is None


def test_failed_stuck_and_terminated_runs(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    kfp_server.run_script = lambda stages: failing_script(stages, "test", "exit code 3")
    failed = client.create_run_from_pipeline_package(str(package), run_name="f")
    run = client.wait_for_run_completion(failed.run_id, timeout=10, sleep_duration=0)
    assert run.state == "FAILED" and run.error.message == "exit code 3"
    assert {t.display_name: t.state for t in run.run_details.task_details} == {
        "train": "SUCCEEDED",
        "test": "FAILED",
    }

    kfp_server.run_script = stuck_script
    stuck = client.create_run_from_pipeline_package(str(package), run_name="s")
    assert {client.get_run(stuck.run_id).state for _ in range(5)} == {"RUNNING"}
    client.terminate_run(stuck.run_id)
    assert client.get_run(stuck.run_id).state == "CANCELING"
    canceled = client.get_run(stuck.run_id)
    assert canceled.state == "CANCELED"
    assert canceled.run_details.task_details[0].state == "CANCELED"

    kfp_server.run_script = canceled_script
    other = client.create_run_from_pipeline_package(str(package), run_name="c")
    states = [client.get_run(other.run_id).state for _ in range(4)]
    assert states == ["RUNNING", "CANCELING", "CANCELED", "CANCELED"]

    kfp_server.set_run_script(failed.run_id, ["PAUSED"])
    assert client.get_run(failed.run_id).state == "PAUSED"
    with pytest.raises(ValueError, match="unknown runtime state"):
        kfp_server.set_run_script(failed.run_id, ["DONE"])
    with pytest.raises(ApiException) as err:
        client.get_run("missing")
    assert err.value.status == 404


def test_multi_user_namespaces(kfp_home: Path, package: Path) -> None:
    with KfpApiServer(multi_user=True) as server:
        assert server.experiments == {}  # no Default experiment in multi-user mode
        alice = kfp.Client(host=server.url, namespace="alice")
        bob = kfp.Client(host=server.url, namespace="bob")
        assert alice.get_kfp_healthz().multi_user is True
        a = alice.create_experiment("e")
        b = bob.create_experiment("e")  # same name, other namespace: allowed
        assert (a.namespace, b.namespace) == ("alice", "bob") and a.experiment_id != b.experiment_id
        listed = alice.list_experiments().experiments
        assert [e.experiment_id for e in listed] == [a.experiment_id]
        with pytest.raises(ApiException) as err:  # same name, same namespace: upstream refuses
            alice._experiment_api.experiment_service_create_experiment(
                experiment={"display_name": "e", "namespace": "alice"}
            )
        assert err.value.status == 409

        p = alice.upload_pipeline(str(package), pipeline_name="unip-demo", namespace="alice")
        assert alice.list_pipelines(namespace="alice").pipelines[0].pipeline_id == p.pipeline_id
        assert alice.list_pipelines(namespace="bob").pipelines is None
        by_name = alice._pipelines_api.pipeline_service_get_pipeline_by_name(
            name="unip-demo", namespace="alice"
        )
        assert by_name.pipeline_id == p.pipeline_id
        run = alice.create_run_from_pipeline_package(
            str(package), run_name="r", experiment_name="e"
        )
        assert [r.run_id for r in alice.list_runs(namespace="alice").runs] == [run.run_id]
        assert bob.list_runs(namespace="bob").runs is None


def test_token_required(kfp_server: KfpApiServer, kfp_home: Path) -> None:
    kfp_server.require_token = "abc"
    anonymous = kfp.Client(host=kfp_server.url)  # healthz is exempt, so init is quick
    with pytest.raises(ApiException) as err:
        anonymous.create_experiment("e")
    assert err.value.status == 401
    assert json.loads(err.value.body)["code"] == 16

    with pytest.raises(ApiException) as err:
        kfp.Client(host=kfp_server.url, existing_token="wrong").list_pipelines()
    assert err.value.status == 403

    authed = kfp.Client(host=kfp_server.url, existing_token="abc")
    assert authed.create_experiment("e").display_name == "e"
    assert kfp_server.requests[-1].authorization == "Bearer abc"


def test_fault_injection(kfp_server: KfpApiServer, client: kfp.Client, package: Path) -> None:
    fault = kfp_server.fail("POST", "/runs", 500, "database is down", times=1)
    with pytest.raises(ApiException) as err:
        client.create_run_from_pipeline_package(str(package), run_name="r")
    assert err.value.status == 500
    assert json.loads(err.value.body) == {
        "error": "database is down",
        "code": 13,
        "message": "database is down",
        "details": [],
    }
    assert fault.hits == 1
    assert client.create_run_from_pipeline_package(str(package), run_name="r").run_id
    kfp_server.fail("*", "/pipelines", 503)
    with pytest.raises(ApiException) as err:
        client.list_pipelines()
    assert err.value.status == 503
    kfp_server.clear_faults()
    assert client.list_pipelines().pipelines is None


def test_minio_round_trip(s3_server: S3Endpoint) -> None:
    client = create_bucket(s3_server, "mlpipeline")
    data = bytes(range(256)) * 64
    client.put_object("mlpipeline", "users/u1/xy train.bin", io.BytesIO(data), len(data))
    client.copy_object(
        "mlpipeline", "runs/r1/xy.bin", CopySource("mlpipeline", "users/u1/xy train.bin")
    )
    response = client.get_object("mlpipeline", "runs/r1/xy.bin")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()
    names = [o.object_name for o in client.list_objects("mlpipeline", recursive=True)]
    assert names == ["runs/r1/xy.bin", "users/u1/xy train.bin"]
    assert s3_server.env()["AWS_ACCESS_KEY_ID"] == s3_server.access_key


def test_s3_server_is_reset_between_tests(s3_server: S3Endpoint) -> None:
    assert not s3_server.minio().bucket_exists("mlpipeline")

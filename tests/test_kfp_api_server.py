"""The fake KFP API server itself, driven by the real ``kfp.Client`` 2.17.

Each test names the KFP 2.17.0 backend source its behaviour comes from. Single-user
behaviour was checked against the real 2.17 API server (research note
``kfp-2.17-backend-check.md``); multi-user behaviour was read in the source, not run.
If these pass, a test that uses the fake exercises the HTTP calls, JSON shapes and errors
of a real KFP 2.17 backend.
"""

import json
import re
from pathlib import Path

import kfp
import pytest
import yaml
from support.kfp_api_server import KfpApiServer
from support.kfp_client import EPOCH, STATUS, failure, raw

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def test_healthz_experiments_and_single_user_namespaces(
    kfp_server: KfpApiServer, client: kfp.Client
) -> None:
    # apiserver/main.go healthzResponse: commit_sha, tag_name, multi_user, pipeline_store.
    health = raw(kfp_server, "/healthz")
    assert health == {"commit_sha": "fake", "tag_name": "2.17.0", "multi_user": False,
                      "pipeline_store": "database"}

    exp = client.create_experiment("unip exp", description="d", namespace="team-a")
    assert client.create_experiment("unip exp").experiment_id == exp.experiment_id  # found
    assert kfp_server.calls("POST", "/experiments")[0].json == {
        "display_name": "unip exp", "description": "d", "namespace": "team-a"}
    # resource_manager.go ReplaceNamespace: single-user mode drops the namespace, and
    # experiment_store.go then lists every experiment whatever ?namespace= says.
    shown = raw(kfp_server, f"/experiments/{exp.experiment_id}")
    assert "namespace" not in shown
    # api_converter.go toApiExperiment: Unix seconds; no run yet is 1970-01-01.
    assert shown["last_run_created_at"] == EPOCH
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["created_at"])
    listed = raw(kfp_server, "/experiments?namespace=other")["experiments"]
    assert {e["display_name"] for e in listed} == {"Default", "unip exp"}  # Default: startup

    assert client.get_experiment(experiment_name="unip exp").experiment_id == exp.experiment_id
    flt = json.loads(kfp_server.calls("GET", "/experiments")[-1].query["filter"])
    assert flt["predicates"][0]["stringValue"] == "unip exp"  # kfp filters by display_name
    with pytest.raises(ValueError, match="No experiment is found"):
        client.get_experiment(experiment_name="nope")
    status, body = failure(lambda: client.get_experiment(experiment_id="missing"))
    assert status == 404 and body["code"] == 5
    # api_converter.go toModelExperiment: an empty name is an InternalServerError (500).
    status, body = failure(lambda: client._experiment_api.experiment_service_create_experiment(
        experiment={"display_name": ""}))
    assert (status, body["code"]) == (500, 13)
    assert "Experiment must have a non-empty name" in body["message"]
    # common/util/error.go GRPCStatus: the chain as message, the external status as detail;
    # grpc-gateway writes no "error" key.
    assert body["details"] == [{"@type": STATUS, "code": 13, "message": "Internal Server Error"}]
    assert "error" not in body


def test_upload_pipeline_and_versions(
    kfp_server: KfpApiServer, client: kfp.Client, package: Path
) -> None:
    pipeline = client.upload_pipeline(str(package), pipeline_name="unip-demo", description="d",
                                      namespace="team-a")
    upload = kfp_server.calls("POST", "/pipelines/upload")[0]
    assert upload.query == {"name": "unip-demo", "description": "d", "namespace": "team-a"}
    assert upload.files["uploadfile"].data == package.read_bytes()
    assert pipeline.namespace is None  # single-user: ReplaceNamespace

    # pipeline_upload_server.go writeErrorToResponse: {"error_message", "error_details"},
    # the details being %+v of a github.com/pkg/errors error: a Go stack trace.
    status, body = failure(lambda: client.upload_pipeline(str(package),
                                                          pipeline_name="unip-demo"))
    assert status == 409 and set(body) == {"error_message", "error_details"}
    assert body["error_message"] == "Failed to create a pipeline and a pipeline version"
    assert "pipeline_upload_server.go:" in body["error_details"]

    version = client.upload_pipeline_version(str(package), "v2", pipeline_name="unip-demo",
                                             description="second")
    assert version.pipeline_id == pipeline.pipeline_id
    assert kfp_server.versions[version.pipeline_version_id].package == package.read_bytes()
    assert version.pipeline_spec["pipelineInfo"]["name"] == "unip-demo"
    status, _ = failure(lambda: client.upload_pipeline_version(
        str(package), "v2", pipeline_id=pipeline.pipeline_id))
    assert status == 409
    status, body = failure(lambda: client.upload_pipeline_version(
        str(package), "v3", pipeline_id="no-such-pipeline"))
    assert status == 400 and body["error_message"] == "Failed to create a pipeline version"

    assert [p.display_name for p in client.list_pipelines(namespace="x").pipelines] == [
        "unip-demo"]
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    assert [v.display_name for v in versions] == ["unip-demo", "v2"]  # upload makes version 1
    flt = json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "string_value": "v2"}]}
    )
    only = client.list_pipeline_versions(pipeline.pipeline_id, filter=flt).pipeline_versions
    assert [v.pipeline_version_id for v in only] == [version.pipeline_version_id]
    assert client.get_pipeline_id("nope") is None  # empty list is omitted -> None


def test_multi_user_namespaces_read_not_run(kfp_home: Path, package: Path) -> None:
    """Read in 2.17 (experiment_server.go, run_server.go, resource_manager.go, the stores)."""
    with KfpApiServer(multi_user=True) as server:
        assert server.experiments == {}  # no Default experiment in multi-user mode
        alice = kfp.Client(host=server.url, namespace="alice")
        bob = kfp.Client(host=server.url, namespace="bob")
        assert alice.get_kfp_healthz().multi_user is True
        a, b = alice.create_experiment("e"), bob.create_experiment("e")  # per namespace
        assert (a.namespace, b.namespace) == ("alice", "bob") and a.experiment_id != b.experiment_id
        assert [e.experiment_id for e in alice.list_experiments().experiments] == [a.experiment_id]
        status, body = failure(lambda: alice._experiment_api.experiment_service_create_experiment(
            experiment={"display_name": "x"}))  # ResourceManager.CreateExperiment
        assert status == 400 and "Namespace cannot be empty" in body["message"]

        p = alice.upload_pipeline(str(package), pipeline_name="unip-demo", namespace="alice")
        assert alice.list_pipelines(namespace="alice").pipelines[0].pipeline_id == p.pipeline_id
        assert alice.list_pipelines(namespace="bob").pipelines is None
        run = alice.create_run_from_pipeline_package(str(package), run_name="r",
                                                     experiment_name="e")
        assert [r.run_id for r in alice.list_runs(namespace="alice").runs] == [run.run_id]
        assert bob.list_runs(namespace="bob").runs is None
        status, body = failure(lambda: alice._run_api.run_service_create_run(
            run={"display_name": "r", "pipeline_spec": yaml.safe_load(package.read_text())}))
        assert status == 400 and "Experiment id can not be empty" in body["message"]


def test_token_required(kfp_server: KfpApiServer, kfp_home: Path) -> None:
    kfp_server.require_token = "abc"
    anonymous = kfp.Client(host=kfp_server.url)  # healthz is exempt, so init is quick
    status, body = failure(lambda: anonymous.create_experiment("e"))
    assert (status, body["code"]) == (401, 16)
    status, _ = failure(lambda: kfp.Client(host=kfp_server.url,
                                           existing_token="wrong").list_pipelines())
    assert status == 403
    authed = kfp.Client(host=kfp_server.url, existing_token="abc")
    assert authed.create_experiment("e").display_name == "e"
    assert kfp_server.requests[-1].authorization == "Bearer abc"


def test_fault_injection(kfp_server: KfpApiServer, client: kfp.Client, package: Path) -> None:
    fault = kfp_server.fail("POST", "/runs", 500, "database is down", times=1)
    status, body = failure(lambda: client.create_run_from_pipeline_package(str(package),
                                                                           run_name="r"))
    assert (status, fault.hits) == (500, 1)
    assert body == {"code": 13, "message": "database is down", "details": [
        {"@type": STATUS, "code": 13, "message": "Internal Server Error"}]}
    assert client.create_run_from_pipeline_package(str(package), run_name="r").run_id
    # error.go ToGRPCError: a plain Go error is "Internal error: %+v", stack trace included.
    kfp_server.fail("GET", "/runs", 500, "Failed to compile job: boom", go_error=True)
    status, body = failure(lambda: client.list_runs())
    assert body["message"].startswith("Internal error: Failed to compile job: boom\n")
    assert ".go:" in body["message"]
    kfp_server.fail("POST", "/pipelines/upload", 500, "Failed to create a pipeline")
    status, body = failure(lambda: client.upload_pipeline(str(package), pipeline_name="x"))
    assert status == 500 and set(body) == {"error_message", "error_details"}
    kfp_server.clear_faults()
    assert client.list_pipelines().pipelines is None

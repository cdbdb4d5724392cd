"""Route handlers of the fake KFP API server: experiments, pipelines, versions and runs.

Each handler follows the KFP 2.17.0 backend file named in it (``backend/src/apiserver``);
``kfp_api_server.KfpApiServer`` mixes them in and provides the stores, ``_ns`` and lookups.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

import yaml

from .kfp_fake_argo import RunStep, terminated_script
from .kfp_fake_errors import (
    ApiError,
    already_exists,
    internal,
    invalid_input,
    not_found,
    upload_error,
)
from .kfp_fake_http import MultipartPart, RecordedRequest, matches_filter, page
from .kfp_fake_runs import (
    EPOCH,
    RunRecord,
    ScriptLike,
    check_inputs,
    check_spec,
    new_run,
    now_rfc3339,
    refuse_creation,
)


@dataclass
class PipelineVersionRecord:
    """A stored pipeline version: its API JSON plus the exact uploaded package bytes."""

    json: dict[str, Any]
    package: bytes
    filename: str

    @property
    def pipeline_id(self) -> str:
        return str(self.json["pipeline_id"])

    @property
    def pipeline_spec(self) -> Any:
        return self.json.get("pipeline_spec")


def parse_package(data: bytes) -> Any:
    """A package as the server stores it: one document, or ``{pipeline_spec, platform_spec}``.

    ``pipeline_upload_server.go``: an unreadable file is 400 "Failed to read a pipeline spec
    file"; a spec ``template.New`` refuses is 400 with its external message.
    """
    try:
        docs = [d for d in yaml.safe_load_all(data.decode("utf-8")) if d is not None]
    except (UnicodeDecodeError, yaml.YAMLError):
        docs = []
    if not docs or not all(isinstance(d, dict) for d in docs) or len(docs) > 2:
        raise upload_error(400, "Failed to read a pipeline spec file")
    spec = {"pipeline_spec": docs[0], "platform_spec": docs[1]} if len(docs) == 2 else docs[0]
    try:
        check_spec(spec)
    except ApiError as e:
        raise upload_error(400, e.external) from None
    return spec


class Routes:
    """The API's handlers; the server provides the state below and the lookups."""

    multi_user: bool
    run_script: ScriptLike | None
    experiments: dict[str, dict[str, Any]]
    pipelines: dict[str, dict[str, Any]]
    versions: dict[str, PipelineVersionRecord]
    runs: dict[str, RunRecord]

    def _ns(self, namespace: str | None) -> str:
        """``resource_manager.go`` ``ReplaceNamespace``: single-user mode drops namespaces."""
        return (namespace or "") if self.multi_user else ""

    def _new_experiment(self, name: str, description: str, namespace: str) -> dict[str, Any]:
        exp = {
            "experiment_id": str(uuid.uuid4()),
            "display_name": name,
            "created_at": now_rfc3339(),
            "last_run_created_at": EPOCH,
            "storage_state": "AVAILABLE",
        }
        if description:
            exp["description"] = description
        if namespace:
            exp["namespace"] = namespace
        self.experiments[exp["experiment_id"]] = exp
        return exp

    def _experiment(self, experiment_id: str) -> dict[str, Any]:
        if experiment_id not in self.experiments:
            raise not_found("Experiment", experiment_id)
        return self.experiments[experiment_id]

    def _pipeline(self, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self.pipelines:
            raise not_found("Pipeline", pipeline_id)
        return self.pipelines[pipeline_id]

    def _run(self, run_id: str) -> RunRecord:
        if run_id not in self.runs:
            raise not_found("Run", run_id)
        return self.runs[run_id]

    # ---- experiments

    def _list_experiments(self, request: RecordedRequest) -> dict[str, Any]:
        q = request.query
        ns = self._ns(q.get("namespace"))  # experiment_store.go: Namespace = <ns>
        items = [
            e
            for e in self.experiments.values()
            if e.get("namespace", "") == ns and matches_filter(e, q.get("filter"))
        ]
        return page(items, q, "experiments")

    def _create_experiment(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        name, ns = body.get("display_name") or "", self._ns(body.get("namespace"))
        if not name:  # api_converter.go toModelExperiment
            raise internal(
                invalid_input("Experiment must have a non-empty name"),
                "Failed to convert API experiment to model experiment",
            ).wrap("[ExperimentServer]: Failed to create a experiment due to conversion error")
        if self.multi_user and not ns:  # resource_manager.go CreateExperiment (read, not run)
            raise invalid_input("Namespace cannot be empty").wrap("Failed to create a experiment")
        if any(e["display_name"] == name and e.get("namespace", "") == ns
               for e in self.experiments.values()):
            raise already_exists(
                f"Failed to create a new experiment. The name {name} already exists. Please "
                "specify a new name"
            ).wrap("Failed to create a experiment")
        return copy.deepcopy(self._new_experiment(name, body.get("description") or "", ns))

    def _get_experiment(self, request: RecordedRequest, experiment_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._experiment(experiment_id))

    # ---- pipelines and versions

    @staticmethod
    def _upload_part(request: RecordedRequest) -> MultipartPart:
        part = request.files.get("uploadfile")
        if part is None:
            raise upload_error(400, "Failed to read pipeline from file")
        return part

    @staticmethod
    def _name_from(request: RecordedRequest, filename: str) -> str:
        """Upstream ``buildPipelineName``: name, else display_name, else the file's stem."""
        q = request.query
        return q.get("name") or q.get("display_name") or filename.split(".")[0]

    def _add_version(
        self, pipeline_id: str, name: str, display_name: str, description: str, part: MultipartPart
    ) -> dict[str, Any]:
        spec = parse_package(part.data)
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": str(uuid.uuid4()),
            "name": name,
            "display_name": display_name,
            "created_at": now_rfc3339(),
            "pipeline_spec": spec,
        }
        if description:
            version["description"] = description
        self.versions[version["pipeline_version_id"]] = PipelineVersionRecord(
            version, part.data, part.filename or ""
        )
        return version

    # ---- pipelines and versions

    def _upload_pipeline(self, request: RecordedRequest) -> dict[str, Any]:
        part = self._upload_part(request)
        q = request.query
        name = self._name_from(request, part.filename or "")
        ns = self._ns(q.get("namespace"))
        if any(p["name"] == name and p.get("namespace", "") == ns for p in self.pipelines.values()):
            raise upload_error(409, "Failed to create a pipeline and a pipeline version")
        pipeline = {
            "pipeline_id": str(uuid.uuid4()),
            "name": name,
            "display_name": q.get("display_name") or name,
            "created_at": now_rfc3339(),
        }
        if q.get("description"):
            pipeline["description"] = q["description"]
        if ns:
            pipeline["namespace"] = ns
        # Upstream creates the pipeline and its first version (same names) in one step.
        self._add_version(
            pipeline["pipeline_id"], name, pipeline["display_name"], q.get("description", ""), part
        )
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return copy.deepcopy(pipeline)

    def _create_pipeline(self, request: RecordedRequest) -> dict[str, Any]:
        """``pipeline_server.go`` ``CreatePipeline``: a pipeline without any version.

        ``toModelPipeline``: the name is ``name``, else ``display_name`` (and the display
        name the name, when missing); ``createPipeline``: ``ReplaceNamespace``, then "name is
        required"; ``pipeline_store.go`` ``CreatePipeline``: a taken name (in the namespace)
        is ``NewAlreadyExistError`` (409), wrapped by ``resource_manager.go`` and the server.
        """
        body = request.json if isinstance(request.json, dict) else {}
        context = "Failed to create a pipeline due to server error"
        name = body.get("name") or body.get("display_name") or ""
        if not name:
            raise invalid_input("name is required").wrap(context)
        ns = self._ns(body.get("namespace"))
        if any(p["name"] == name and p.get("namespace", "") == ns for p in self.pipelines.values()):
            raise already_exists(
                f"Failed to create a new pipeline. The name {name} already exist. Please "
                "specify a new name"
            ).wrap("Failed to create a pipeline in PipelineStore").wrap(context)
        pipeline = {
            "pipeline_id": str(uuid.uuid4()),
            "name": name,
            "display_name": body.get("display_name") or name,
            "created_at": now_rfc3339(),
        }
        if body.get("description"):
            pipeline["description"] = body["description"]
        if ns:
            pipeline["namespace"] = ns
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return copy.deepcopy(pipeline)

    def _upload_version(self, request: RecordedRequest) -> dict[str, Any]:
        part = self._upload_part(request)
        q = request.query
        pipeline_id = q.get("pipelineid", "")
        if pipeline_id not in self.pipelines:
            raise upload_error(400, "Failed to create a pipeline version")
        name = self._name_from(request, part.filename or "")
        if any(
            v.pipeline_id == pipeline_id and v.json["name"] == name for v in self.versions.values()
        ):
            raise upload_error(409, "Failed to create a pipeline version")
        return copy.deepcopy(
            self._add_version(
                pipeline_id, name, q.get("display_name") or name, q.get("description", ""), part
            )
        )

    def _list_pipelines(self, request: RecordedRequest) -> dict[str, Any]:
        q = request.query
        ns = self._ns(q.get("namespace"))  # pipeline_store.go: pipelines.Namespace = <ns>
        items = [
            p
            for p in self.pipelines.values()
            if p.get("namespace", "") == ns and matches_filter(p, q.get("filter"))
        ]
        return page(items, q, "pipelines")

    def _get_pipeline(self, request: RecordedRequest, pipeline_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._pipeline(pipeline_id))

    def _get_pipeline_by_name(self, request: RecordedRequest, name: str) -> dict[str, Any]:
        ns = self._ns(request.query.get("namespace"))
        for p in self.pipelines.values():
            if p["name"] == name and p.get("namespace", "") == ns:
                return copy.deepcopy(p)
        raise not_found("Pipeline", name)

    def _list_versions(self, request: RecordedRequest, pipeline_id: str) -> dict[str, Any]:
        self._pipeline(pipeline_id)
        q = request.query
        items = [
            v.json
            for v in self.versions.values()
            if v.pipeline_id == pipeline_id and matches_filter(v.json, q.get("filter"))
        ]
        return page(items, q, "pipeline_versions")

    def _get_version(
        self, request: RecordedRequest, pipeline_id: str, version_id: str
    ) -> dict[str, Any]:
        record = self.versions.get(version_id)
        if record is None or record.pipeline_id != pipeline_id:
            raise not_found("PipelineVersion", version_id)
        return copy.deepcopy(record.json)

    # ---- runs

    # ---- runs

    def _create_run(self, request: RecordedRequest) -> dict[str, Any]:
        """``run_server.go`` ``CreateRun`` → ``createRun`` → ``resource_manager.go``."""
        body = request.json if isinstance(request.json, dict) else {}
        if not body.get("display_name"):  # api_converter.go toModelRun
            raise internal(
                invalid_input("Run name cannot be empty"),
                "Failed to convert a API run detail to its internal representation",
            ).wrap("CreateJob(job.ToV2())Failed to create a run due to conversion error")
        experiment_id = self._run_experiment(body.get("experiment_id") or "")
        spec, reference = self._run_template(body)
        try:
            check_inputs(spec, body.get("runtime_config"))
        except ApiError as e:
            raise refuse_creation(e, "invalid pipeline job inputs",
                                  "Failed to generate the ExecutionSpec") from None
        record = new_run(body, str(uuid.uuid4()), experiment_id, spec, reference,
                         self.run_script)
        self.experiments[experiment_id]["last_run_created_at"] = record.json["created_at"]
        self.runs[record.run_id] = record
        return record.render()

    def _run_experiment(self, experiment_id: str) -> str:
        """``GetValidExperimentNamespacePair``: the experiment, or ``Default`` (single-user)."""
        context = "Failed to create a run due to invalid experimentId and namespace combination"
        if experiment_id:
            if experiment_id not in self.experiments:
                raise refuse_creation(not_found("Experiment", experiment_id).wrap(
                    f"Failed to fetch namespace for experiment {experiment_id}"), context)
            return experiment_id
        if self.multi_user:  # read, not run
            raise refuse_creation(
                invalid_input("Experiment id can not be empty in multi-user mode"), context)
        default = [e for e in self.experiments.values() if e["display_name"] == "Default"]
        return str((default[0] if default else self._new_experiment("Default", "", ""))
                   ["experiment_id"])

    def _run_template(self, body: dict[str, Any]) -> tuple[Any, dict[str, str] | None]:
        """``fetchTemplateFromPipelineSpec``: any failure is an internal error (500)."""
        ref, spec = body.get("pipeline_version_reference") or {}, body.get("pipeline_spec")
        try:
            if ref.get("pipeline_version_id"):
                vid = ref["pipeline_version_id"]
                record = self.versions.get(vid)
                if record is None:
                    raise not_found("PipelineVersion", vid).wrap(
                        f"Failed to get a pipeline version with id {vid}").wrap(
                        f"Failed to fetch a pipeline version and its manifest from pipeline "
                        f"version {vid}").wrap(
                        "Failed to fetch a template due to error retrieving pipeline version")
                if ref.get("pipeline_id") and ref["pipeline_id"] != record.pipeline_id:
                    raise invalid_input(
                        f"Pipeline version {vid} belongs to pipeline {record.pipeline_id} (not "
                        f"{ref['pipeline_id']})").wrap(
                        "Failed to fetch a template due to error retrieving pipeline version")
                return record.pipeline_spec, {"pipeline_id": record.pipeline_id,
                                              "pipeline_version_id": vid}
            if ref.get("pipeline_id"):
                latest = [r for r in self.versions.values() if r.pipeline_id == ref["pipeline_id"]]
                if not latest:
                    raise not_found("Pipeline", ref["pipeline_id"]).wrap(
                        "Failed to fetch a template due to error retrieving pipeline version")
                return latest[-1].pipeline_spec, {
                    "pipeline_id": latest[-1].pipeline_id,
                    "pipeline_version_id": latest[-1].json["pipeline_version_id"]}
            if not spec:
                raise invalid_input(
                    "Failed to fetch a template with an empty pipeline spec manifest")
            try:
                check_spec(spec)
            except ApiError as e:
                raise e.wrap("Failed to fetch a template with an invalid pipeline spec "
                             "manifest") from None
            return spec, None
        except ApiError as e:
            raise refuse_creation(
                internal(e, "Failed to create a run due to error fetching manifest")) from None

    def _get_run(self, request: RecordedRequest, run_id: str) -> dict[str, Any]:
        record = self._run(run_id)
        record.advance()
        return record.render()

    def _list_runs(self, request: RecordedRequest) -> dict[str, Any]:
        """``run_server.go`` ``listRuns``: by experiment, else by namespace (multi-user)."""
        q = request.query
        exp = q.get("experiment_id")
        if exp and exp not in self.experiments:
            raise not_found("Experiment", exp).wrap(
                f"Failed to list runs due to error fetching namespace for experiment {exp}. "
                "Try filtering based on namespace").wrap("Failed to list runs")
        ns = self._ns(q.get("namespace"))
        items = []
        for record in self.runs.values():
            run = record.render()
            run_ns = self.experiments.get(run["experiment_id"], {}).get("namespace", "")
            mine = run["experiment_id"] == exp if exp else (run_ns == ns or not self.multi_user)
            if mine and matches_filter(run, q.get("filter")):
                items.append(run)
        return page(items, q, "runs")

    def _terminate_run(self, request: RecordedRequest, run_id: str) -> dict[str, Any]:
        """``resource_manager.go`` ``TerminateRun`` / ``run_store.go`` ``TerminateRun``."""
        record = self._run(run_id)
        if record.state not in ("PENDING", "RUNNING", "PAUSED"):
            raise invalid_input(f"Failed to terminate a run {run_id}. Row not found").wrap(
                f"Failed to terminate run {run_id}").wrap("Failed to terminate a run")
        record.json["state"] = "CANCELING"  # no state_history entry until the next report
        current = record.reported or RunStep("PENDING")
        record.script, record.polls = terminated_script(current), 0
        return {}

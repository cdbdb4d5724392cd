"""Recurring runs of the fake KFP API server (``/apis/v2beta1/recurringruns``), as in 2.17.

Read in the KFP 2.17.0 backend (single-user behaviour; multi-user read, not run):

* ``backend/api/v2beta1/recurring_run.proto``: create (``POST``, body = the recurring run),
  get, list, ``:enable``, ``:disable`` and ``DELETE ...?propagation_policy=FOREGROUND|
  BACKGROUND|ORPHAN``; int64 fields (``max_concurrency``, ``interval_second``) are JSON
  strings in answers.
* ``server/api_converter.go`` ``toModelJob``: an empty name is a 500 (an internal error
  around "Recurring run's name cannot be empty"); ``max_concurrency`` outside 1..10, a cron
  ``github.com/robfig/cron`` v1.2.0 ``Parse`` refuses, or an interval below one second are
  400. ``toApiRecurringRun``: ``status``/``mode`` ENABLED/ENABLE or DISABLED/DISABLE, times
  in whole seconds, ``runtime_config`` only when it holds something.
* ``server/job_server.go`` ``createJob`` (the experiment, or ``Default``; a multi-user
  namespace) and ``resource/resource_manager.go`` ``CreateJob``: the pipeline version's
  template (an unknown version is a 500), its inputs checked as for runs; single-user jobs
  get the API server's namespace (``POD_NAMESPACE``, ``kubeflow``).
* ``resource_manager.go`` ``DeleteJob``: deletes the ScheduledWorkflow with the request's
  propagation policy (none when unspecified: Kubernetes' default, background), then the row.
  The workflows a ScheduledWorkflow starts carry a controller owner reference to it
  (``backend/src/common/util/workflow.go`` ``SetOwnerReferences``), so any policy but
  ``ORPHAN`` lets the garbage collector delete them: runs in flight stop (their pods go, and
  the persistence agent never reports them again, ``agent/persistence/worker/
  workflow_saver.go``: "no longer exists"), kubeflow/pipelines#7421 and #12573. With
  ``ORPHAN`` they go on. ``cascade_always`` models a server that ignores the policy.
* ``crd/controller/scheduledworkflow``: an enabled schedule starts runs named
  ``<swf name>-<index>-<fnv32a>`` (``util/scheduled_workflow.go`` ``NextResourceName``),
  which the persistence agent reports with ``recurring_run_id``
  (``resource_manager.go`` ``ReportWorkflowResource``). ``trigger_schedule`` here is one tick.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from .kfp_fake_argo import fnv32a
from .kfp_fake_errors import ApiError, internal, invalid_input, not_found
from .kfp_fake_http import RecordedRequest, matches_filter, page
from .kfp_fake_runs import RunRecord, check_inputs, new_run, now_rfc3339

_CRON_BOUNDS = [(0, 59, None), (0, 59, None), (0, 23, None), (1, 31, None),
                (1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                         "nov", "dec"]),
                (0, 6, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])]
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$")


def robfig_parse_error(spec: str) -> str | None:
    """What ``cron.Parse`` of robfig/cron v1.2.0 says about `spec` (None: accepted).

    Its default parser: seconds, minutes, hours, day of month, month and an optional day of
    week (5 or 6 fields: five are read from the seconds on), descriptors and ``@every``.
    """
    if not spec:
        return "Empty spec string"
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            ok = _GO_DURATION.match(spec[7:])
            return None if ok else f"Failed to parse duration {spec}"
        return f"Unrecognized descriptor: {spec}"
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        return f"Expected 5 to 6 fields, found {len(fields)}: {spec}"
    for text, (low, high, names) in zip(fields, _CRON_BOUNDS, strict=False):
        for expr in text.split(","):
            error = _range_error(expr, low, high, names)
            if error:
                return error
    return None


def _range_error(expr: str, low: int, high: int, names: list[str] | None) -> str | None:
    span, _, step = expr.partition("/")
    if step and "/" in step:
        return f"Too many slashes: {expr}"
    bounds = span.split("-")
    if len(bounds) > 2:
        return f"Too many hyphens: {expr}"
    try:
        if bounds[0] in ("*", "?"):
            start, end = low, high
        else:
            start = _number(bounds[0], names)
            end = _number(bounds[1], names) if len(bounds) == 2 else start
            if step and len(bounds) == 1:
                end = high
        every = _number(step, None) if step else 1
    except ValueError as exc:
        return str(exc)
    if start < low:
        return f"Beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"End of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"Beginning of range ({start}) beyond end of range ({end}): {expr}"
    if every == 0:
        return f"Step of range should be a positive number: {expr}"
    return None


def _number(text: str, names: list[str] | None) -> int:
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if len(names) == 12 else 0)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"Failed to parse int from {text}: strconv.Atoi: parsing "
                         f"\"{text}\": invalid syntax") from None
    if value < 0:
        raise ValueError(f"Negative number ({value}) not allowed: {text}")
    return value


class RecurringRoutes:
    """The recurring-run handlers; the server provides the stores, ``_ns`` and lookups."""

    multi_user: bool
    recurring_runs: dict[str, dict[str, Any]]
    runs: dict[str, RunRecord]
    cascade_always: bool

    def _convert_job(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``toModelJob``'s checks; returns the name and the trigger as answers show it."""
        context = "Failed to create a recurring run due to conversion error"
        if not body.get("display_name"):
            raise internal(invalid_input("Recurring run's name cannot be empty"),
                           "Failed to convert a API recurring run to its internal "
                           "representation").wrap(context)
        concurrency = int(body.get("max_concurrency") or 0)
        if not 1 <= concurrency <= 10:
            raise invalid_input("Max concurrency of a recurring run must be at least 1 and at "
                                f"most 10. Received {concurrency}").wrap(context)
        trigger = copy.deepcopy(body.get("trigger") or {})
        cron = (trigger.get("cron_schedule") or {}).get("cron")
        if cron is not None:
            error = robfig_parse_error(cron)
            if error:
                raise invalid_input("Schedule cron is not a supported format(https://godoc.org/"
                                    f"github.com/robfig/cron). Error: {error}").wrap(context)
        periodic = trigger.get("periodic_schedule")
        if periodic is not None:
            interval = int(periodic.get("interval_second") or 0)
            if interval < 1:
                raise invalid_input(f"Found invalid period schedule interval {interval}. Set at "
                                    "interval to least 1 second").wrap(context)
            periodic["interval_second"] = str(interval)
        return str(body["display_name"]), trigger

    def _create_recurring_run(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        name, trigger = self._convert_job(body)
        experiment_id = self._job_experiment(body.get("experiment_id") or "")
        namespace = self.experiments[experiment_id].get("namespace") or "kubeflow"
        spec, reference = self._job_template(body)
        try:
            check_inputs(spec, body.get("runtime_config"))
        except ApiError as e:
            raise e.wrap("invalid pipeline job inputs").wrap(
                "Failed to create a recurring run during scheduled workflow creation").wrap(
                "Failed to create a recurring run") from None
        now = now_rfc3339()
        enabled = body.get("mode", "ENABLE") != "DISABLE"
        job: dict[str, Any] = {
            "recurring_run_id": str(uuid.uuid4()), "display_name": name,
            "service_account": body.get("service_account") or "pipeline-runner",
            "created_at": now, "updated_at": now,
            "max_concurrency": str(int(body["max_concurrency"])), "trigger": trigger,
            "namespace": namespace, "experiment_id": experiment_id}
        for key in ("description", "no_catchup"):
            if body.get(key):
                job[key] = body[key]
        config = {k: v for k, v in (body.get("runtime_config") or {}).items() if v}
        if config:
            job["runtime_config"] = config
        if reference:
            job["pipeline_version_reference"] = reference
        else:
            job["pipeline_spec"] = copy.deepcopy(body.get("pipeline_spec"))
        self._set_mode(job, enabled)
        self.recurring_runs[job["recurring_run_id"]] = job
        return copy.deepcopy(job)

    def _job_experiment(self, experiment_id: str) -> str:
        context = ("Failed to create a recurring run due to invalid experimentId and namespace "
                   "combination")
        if experiment_id:
            if experiment_id not in self.experiments:
                raise not_found("Experiment", experiment_id).wrap(context).wrap(
                    "Failed to create a recurring run")
            return experiment_id
        if self.multi_user:
            raise invalid_input("Recurring run cannot have an empty namespace in multi-user "
                                "mode").wrap("Failed to create a recurring run")
        default = [e for e in self.experiments.values() if e["display_name"] == "Default"]
        return str(default[0]["experiment_id"])

    def _job_template(self, body: dict[str, Any]) -> tuple[Any, dict[str, str] | None]:
        reference = body.get("pipeline_version_reference") or {}
        if not reference.get("pipeline_version_id") and not body.get("pipeline_spec"):
            raise ApiError(2, "Cannot create a job with an empty pipeline ID")
        try:
            return self._run_template(body)  # type: ignore[attr-defined,no-any-return]
        except ApiError as e:  # the run's wording is kept, the context is the job's
            raise internal(e, "Failed to create a recurring run with an invalid pipeline "
                           "spec manifest").wrap("Failed to create a recurring run") from None

    @staticmethod
    def _set_mode(job: dict[str, Any], enabled: bool) -> None:
        job["mode"], job["status"] = ("ENABLE", "ENABLED") if enabled else ("DISABLE", "DISABLED")

    def _job(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.recurring_runs:
            raise not_found("Job", job_id)
        return self.recurring_runs[job_id]

    def _get_recurring_run(self, request: RecordedRequest, job_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._job(job_id))

    def _list_recurring_runs(self, request: RecordedRequest) -> dict[str, Any]:
        q = request.query
        experiment = q.get("experiment_id")
        namespace = q.get("namespace") if self.multi_user else None
        items = [j for j in self.recurring_runs.values()
                 if (not experiment or j["experiment_id"] == experiment)
                 and (not namespace or j["namespace"] == namespace)
                 and matches_filter(j, q.get("filter"))]
        # recurring_run.proto names the field `recurringRuns` (not snake case), so even with
        # UseProtoNames the answer says "recurringRuns", as kfp_server_api expects
        return page(items, q, "recurringRuns")

    def _enable_recurring_run(self, request: RecordedRequest, job_id: str) -> dict[str, Any]:
        return self._change_mode(job_id, True)

    def _disable_recurring_run(self, request: RecordedRequest, job_id: str) -> dict[str, Any]:
        return self._change_mode(job_id, False)

    def _change_mode(self, job_id: str, enable: bool) -> dict[str, Any]:
        """``ChangeJobMode``: patch the ScheduledWorkflow's ``enabled``, then the row."""
        try:
            job = self._job(job_id)
        except ApiError as e:
            raise e.wrap(f"Failed to change recurring run's mode to enable:{str(enable).lower()}"
                         f". Check if recurring run {job_id} exists").wrap(
                f"Failed to {'enable' if enable else 'disable'} a recurring run") from None
        self._set_mode(job, enable)
        job["updated_at"] = now_rfc3339()
        return {}

    def _delete_recurring_run(self, request: RecordedRequest, job_id: str) -> dict[str, Any]:
        """``DeleteJob``; without ORPHAN the garbage collector takes the job's workflows."""
        try:
            self._job(job_id)
        except ApiError as e:
            raise e.wrap(f"Failed to delete recurring run {job_id}. Check if exists").wrap(
                "Failed to delete a recurring run") from None
        policy = request.query.get("propagation_policy", "")
        if policy != "ORPHAN" or self.cascade_always:
            for record in list(self.runs.values()):
                if record.json.get("recurring_run_id") == job_id:
                    self.delete_workflow(record.run_id)  # type: ignore[attr-defined]
        del self.recurring_runs[job_id]
        return {}

    def _delete_version(self, request: RecordedRequest, pipeline_id: str, version_id: str
                        ) -> dict[str, Any]:
        """``pipeline_server.go`` ``DeletePipelineVersion``: the version goes, whoever uses it
        (recurring runs keep their reference; runs in flight have their own copy)."""
        versions = self.versions  # type: ignore[attr-defined]
        record = versions.get(version_id)
        if record is None or record.pipeline_id != pipeline_id:
            raise not_found("PipelineVersion", version_id).wrap(
                f"Failed to delete pipeline version {version_id}").wrap(
                "Failed to delete a pipeline version")
        del versions[version_id]
        return {}

    # ---- the ScheduledWorkflow controller, one tick at a time (a test control)

    def trigger_schedule(self, job_id: str) -> RunRecord | None:
        """The schedule's next run, as the controller starts it; None when disabled."""
        job = self.recurring_runs[job_id]
        if job["status"] != "ENABLED":
            return None
        index = 1 + sum(1 for r in self.runs.values() if r.json.get("recurring_run_id") == job_id)
        prefix = re.sub(r"[^a-z0-9-]+", "", job["display_name"].lower())[:25] or "job-"
        resource = f"{prefix}-{index}"
        name = f"{resource}-{fnv32a(resource)}"
        body = {"display_name": name, "runtime_config": job.get("runtime_config") or {},
                "pipeline_version_reference": job.get("pipeline_version_reference"),
                "pipeline_spec": job.get("pipeline_spec")}
        spec, reference = self._run_template(body)  # type: ignore[attr-defined]
        record = new_run(body, str(uuid.uuid4()), job["experiment_id"], spec, reference,
                         self.run_script)  # type: ignore[attr-defined]
        record.json["recurring_run_id"] = job_id
        self.runs[record.run_id] = record
        return record

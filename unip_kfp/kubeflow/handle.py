"""`RunHandle`: a submitted run — its id and link, waiting, its logs, fetching its outputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import RunFailedError, UnipKfpError, UsageError
from ..launch.arguments import box_uri, classify, parse_outputs
from ..manifests.project_config import KubeflowConfig
from ..plan.model import PipelinePlan
from ..s3 import Location
from .artifacts import locate, output_refs, run_folder
from .connection import Connection
from .logs import Logs, LogSession, failure_tail
from .pods import stage_templates
from .progress import SUCCESS, TERMINAL, Pods, wait_for_run
from .stages import stage_keys, state_of, was_canceled
from .storage import Storage, prepare_local_folder


@dataclass
class RunHandle:
    """A run on Kubeflow. `wait()` until it ends, then `outputs({name: dest})`.

    `state` is the last state seen (None before the first look). A run canceled by a user
    is CANCELED here, although the KFP 2.17 server ends it FAILED (`stages.py`).
    """

    run_id: str
    url: str
    experiment_id: str
    plan: PipelinePlan
    spec: dict[str, Any]
    pipeline_root: str
    connection: Connection = field(repr=False)
    storage: Callable[[], Storage] = field(repr=False)
    echo: Callable[[str], None] = field(repr=False, default=print)
    cache: bool = False
    state: str | None = None
    platform_spec: dict[str, Any] | None = field(repr=False, default=None)
    kubeflow: KubeflowConfig | None = field(repr=False, default=None)  # uiHost, logArchive

    @property
    def client(self) -> Any:
        """The `kfp.Client` the run was created with."""
        return self.connection.client

    def wait(
        self,
        timeout: float | None = None,
        echo: Callable[[str], None] | None = None,
        poll_interval: float | None = None,
    ) -> str:
        """Wait for a terminal state and return it (SUCCEEDED or SKIPPED).

        Raises RunFailedError when the run failed (naming the stage and its log) or was
        canceled (`state` is then CANCELED), WaitTimeoutError after `timeout` seconds (the
        run keeps going), UnreachableError if Kubeflow goes away.
        """
        pods = Pods(stage_templates(self.spec, self.platform_spec),
                    self.connection.pod_namespace)
        try:
            run = wait_for_run(
                self.connection, self.run_id, stage_keys(self.spec), timeout=timeout,
                echo=echo or self.echo, poll_interval=poll_interval, pods=pods,
            )
        except RunFailedError as exc:
            self.state = getattr(exc, "state", None) or self.state
            if self.state == "FAILED":
                failure_tail(self._log_session(), exc, echo or self.echo)
            raise
        except KeyboardInterrupt:
            (echo or self.echo)(f"stopped waiting; run {self.run_id} keeps going: {self.url}")
            raise
        self.state = str(run.state).upper()
        return self.state

    def logs(self, stage: str | None = None, *, tail: int | None = None, follow: bool = False,
             echo: Callable[[str], None] | None = None) -> Logs:
        """Each stage's log (`{stage: text}`, in stage order), or only `stage`'s.

        `tail` keeps the last lines. `follow` prints the lines as they are written
        (`[stage] line`, through `echo`) until the run ends. Sources, in order: the
        Kubernetes API, the KFP UI's pod-log route, the archive in the artifact store
        (`logs.py`); `LogsUnavailable` (exit 5) names why each one failed.
        """
        session = self._log_session()
        if follow:
            return session.follow(stage, tail, echo or self.echo)
        return session.logs(stage, tail)

    def _log_session(self) -> LogSession:
        return LogSession(self.connection, self.run_id, stage_keys(self.spec),
                          stage_templates(self.spec, self.platform_spec), self.storage,
                          self.kubeflow or KubeflowConfig())

    def status(self) -> str:
        """The run's current state, without waiting (CANCELED for a canceled run)."""
        self.state = self._peek()
        return self.state

    def cancel(self) -> str:
        """Ask Kubeflow to stop the run; return its state (CANCELING, or how it had ended).

        The 2.17 server refuses to terminate a run that is not pending or running ("Row not
        found"); canceling such a run again, or a finished one, changes nothing.
        """
        from kfp_server_api.exceptions import ApiException

        with self.connection.call(f"canceling run {self.run_id}"):
            try:
                self.client.terminate_run(self.run_id)
            except ApiException as exc:
                if "Row not found" not in str(getattr(exc, "body", "") or ""):
                    raise
                return self.status()
        self.state = "CANCELING"
        return self.state

    def outputs(self, mapping: Mapping[str, Any], force: bool = False) -> dict[str, str]:
        """Copy outputs of the finished run: `{name: dest}` -> `{name: where it went}`.

        `dest` follows the `-o` rule: a local folder (`./dir`, `/dir`, a `Path`) is filled
        with the output's files (a non-empty one is refused unless `force`); `scheme://...` or
        a box-relative path (`results/run1`, in the default box's file API) receives a
        server-side copy. Outputs are found under the pipeline root (see `artifacts.py`).
        """
        if not mapping:
            return {}
        state = self.state if self.state in TERMINAL else self.status()
        if state not in SUCCESS:
            raise RunFailedError(f"run {self.run_id} is {state}: no outputs to fetch")
        try:
            return self._fetch(mapping, force)
        except UnipKfpError as exc:
            exc.args = (f"run {self.run_id} {state}, but fetching its outputs failed: {exc}",)
            raise

    def _fetch(self, mapping: Mapping[str, Any], force: bool) -> dict[str, str]:
        raw = {name: os.fspath(dest) if isinstance(dest, os.PathLike) else str(dest)
               for name, dest in mapping.items()}
        local_names = {n for n, d in mapping.items() if isinstance(d, os.PathLike)}
        chosen = parse_outputs(self.plan, raw)
        variables = {v.name: v for v in self.plan.outputs}
        refs = output_refs(self.spec)
        targets = []  # every destination is checked before anything is transferred
        for name, dest in chosen.items():
            param = variables[name].param
            if param not in refs:
                raise UsageError(f"output '{name}' is not a pipeline output of the package")
            if name in local_names or classify(dest) == "local":
                targets.append((name, refs[param], "local", prepare_check(dest, force=force)))
            else:
                uri = dest if classify(dest) == "uri" else box_uri(self.plan, dest)
                targets.append((name, refs[param], "uri", Location.parse(uri).uri))
        storage = self.storage()
        folder = run_folder(self.pipeline_root, self.spec, self.run_id)
        done: dict[str, str] = {}
        for name, ref, kind, dest in targets:
            artifact = locate(storage, folder, ref, cached=self.cache)
            # A folder artifact gives its files; a single-file one lands as <dest>/<output>.
            if kind == "local":
                folder_path = prepare_local_folder(dest, force=force)
                target = os.path.join(folder_path, ref.output) if artifact.is_file else folder_path
                storage.download(artifact.location, target)
                done[name] = folder_path
            else:
                names = [ref.output] if artifact.is_file else artifact.names
                source = artifact.location.parent if artifact.is_file else artifact.location
                storage.copy_tree(source, names, Location.parse(dest), force=force)
                done[name] = dest
            self.echo(f"output {name}: {artifact.location.uri} -> {done[name]}")
        return done

    def _peek(self) -> str:
        with self.connection.call(f"reading run {self.run_id}"):
            run = self.client.get_run(self.run_id)
        state = state_of(run) or "PENDING"
        return "CANCELED" if state in ("FAILED", "CANCELED") and was_canceled(run) else state

    def __repr__(self) -> str:
        return f"RunHandle(run_id={self.run_id!r}, state={self.state!r}, url={self.url!r})"

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.state or 'submitted'}): {self.url}"

    def _repr_html_(self) -> str:
        return (f'run <code>{self.run_id}</code> ({self.state or "submitted"}): '
                f'<a href="{self.url}" target="_blank">{self.url}</a>')


def prepare_check(dest: str, *, force: bool) -> str:
    """Refuse a non-empty local destination before anything is fetched (emptied later)."""
    folder = os.path.abspath(os.path.expanduser(dest))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{dest} exists and is not a folder")
    if os.path.isdir(folder) and os.listdir(folder) and not force:
        raise UsageError(
            f"{dest} is not empty; refusing to mix outputs into it (choose another folder, "
            "or --force / force=True to replace its content)"
        )
    return folder

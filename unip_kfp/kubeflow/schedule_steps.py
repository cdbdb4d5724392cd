"""Apply a schedule in steps that never leave it without exactly one enabled recurring run.

Replacing schedule S (identity: pipeline + name) by S':

1. upload the pipeline version (content hash: unchanged manifests upload nothing);
2. create S' **disabled**;
3. disable S (runs in flight go on: disabling only stops new ones);
4. enable S' (unless S was paused: then S' stays paused);
5. delete S with `propagation_policy=ORPHAN`, which keeps its workflows.

A failure at a step undoes the steps before it: at 3, S' is deleted (S never stopped); at
4, S is enabled again and S' deleted; so S alone is enabled. If an undo fails too, the
message says exactly which recurring run to enable (`unip-kfp schedule resume NAME --id`),
or which disabled leftover remains. At 5, S' is in effect and S is disabled: the message
says so, and the next `unip-kfp schedule` of the same pipeline removes such leftovers (a
disabled S' made of the wanted things is taken up again instead of creating another).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UnipKfpError
from ..launch.arguments import InputArgument, InputValue, box_uri
from ..launch.prepared import Prepared, Target, prepare
from ..plan.model import PipelinePlan
from ..s3 import Location
from .connection import Connection, connect, note_ignored_namespace
from .schedules import (
    Schedule,
    check_concurrency,
    create,
    delete,
    make_trigger,
    matching,
    set_enabled,
)
from .storage import Storage
from .submission import (
    DEFAULT_PIPELINE_ROOT,
    _experiment_id,
    _experiment_name,
    _parameter,
    checked_inputs,
)
from .versions import Upload, upload_prepared

if TYPE_CHECKING:
    import kfp


@dataclass(frozen=True)
class Applied:
    """What `apply_schedule` did: created, unchanged or replaced, and the schedule now."""

    action: str
    schedule: Schedule
    replaced: list[str] = field(default_factory=list)
    version_created: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "replaced": self.replaced,
                "version_created": self.version_created, **self.schedule.as_dict()}


@dataclass
class Reconcile:
    """Make Kubeflow hold `wanted` under its identity, step by step (module doc)."""

    connection: Connection
    wanted: Schedule
    description: str
    say: Callable[[str], None]

    def run(self) -> Applied:
        current = matching(self.connection, self.wanted.pipeline_id, self.wanted.name)
        name = self.wanted.name
        if not current:
            made = create(self.connection, self.wanted, enabled=True,
                          description=self.description)
            self.say(f"schedule '{name}' created, {made.trigger.describe()}: "
                     f"{made.recurring_run_id}")
            return Applied("created", made)
        same = [s for s in current if s.same_as(self.wanted)]
        if len(current) == 1 and same:
            self.say(f"schedule '{name}' unchanged ({same[0].status}, "
                     f"{same[0].trigger.describe()}): nothing to do")
            return Applied("unchanged", same[0])
        return self._replace(current, same)

    def _replace(self, current: list[Schedule], same: list[Schedule]) -> Applied:
        enable = any(s.enabled for s in current)
        # a disabled one made of the wanted things is an interrupted replacement: take it up
        new = max(same, key=lambda s: (s.enabled, str(s.created or ""))) if same else None
        created = new is None
        if new is None:
            new = create(self.connection, self.wanted, enabled=False, description=self.description)
        olds = [s for s in current if s.recurring_run_id != new.recurring_run_id]
        disabled: list[Schedule] = []
        try:
            for old in olds:
                if old.enabled:
                    set_enabled(self.connection, old, False)
                    disabled.append(old)
            if enable and not new.enabled:
                set_enabled(self.connection, new, True)
        except UnipKfpError as exc:
            live = [s for s in olds if s.enabled]
            raise self._undo(exc, disabled, new, created, live) from None
        for old in olds:
            self._delete_old(old, new, enable)
        state = "enabled" if enable else "paused, as the one it replaces was"
        self.say(f"schedule '{self.wanted.name}' replaced ({state}), "
                 f"{new.trigger.describe()}: {new.recurring_run_id}; runs in flight go on")
        return Applied("replaced", new, [o.recurring_run_id for o in olds])

    def _undo(self, failure: UnipKfpError, disabled: list[Schedule], new: Schedule,
              created: bool, live: list[Schedule]) -> UnipKfpError:
        """Put the old schedule back in effect; the error says where things stand."""
        name, lines = self.wanted.name, [f"schedule '{self.wanted.name}' not replaced: {failure}"]
        for old in disabled:
            try:
                set_enabled(self.connection, old, True)
            except UnipKfpError as exc:
                lines.append(f"re-enabling the old one {old.recurring_run_id} failed too: {exc}")
                lines.append(f"no schedule '{name}' is enabled now: enable the new one with "
                             f"`unip-kfp schedule resume {name} --id {new.recurring_run_id}`")
                return _again(failure, lines)
        if created:
            try:
                delete(self.connection, new)
            except UnipKfpError as exc:
                lines.append(f"a disabled leftover {new.recurring_run_id} remains ({exc}); the "
                             "next `unip-kfp schedule` of this pipeline removes it")
        in_effect = ", ".join(s.recurring_run_id for s in live) or "paused"
        lines.append(f"the schedule in effect is unchanged ({in_effect})")
        return _again(failure, lines)

    def _delete_old(self, old: Schedule, new: Schedule, enable: bool) -> None:
        try:
            delete(self.connection, old)
        except UnipKfpError as exc:
            state = "enabled" if enable else "paused"
            raise _again(exc, [
                f"schedule '{self.wanted.name}' replaced by {new.recurring_run_id} ({state}), "
                f"but deleting the old one {old.recurring_run_id} failed: {exc}",
                "the old one is disabled and its runs go on; run `unip-kfp schedule` again to "
                f"remove it (or `unip-kfp schedule delete {self.wanted.name} --id "
                f"{old.recurring_run_id}`)"]) from None


def _again(failure: UnipKfpError, lines: list[str]) -> UnipKfpError:
    """The same kind of error (same exit code), telling the whole story."""
    error = type(failure)("\n    ".join(lines))
    return error


# ---- the whole command: check, upload, then reconcile


def apply_schedule(target: Target, *, name: str | None = None, cron: str | None = None,
                   every: str | int | None = None, start: str | None = None,
                   end: str | None = None, inputs: Mapping[str, InputArgument] | None = None,
                   max_concurrency: int = 1, experiment: str | None = None,
                   pipeline: str | None = None, s3_endpoint: str | None = None,
                   echo: Callable[[str], None] | None = None, client: kfp.Client | None = None,
                   host: str | None = None, namespace: str | None = None,
                   token: str | None = None, token_file: str | None = None,
                   ca_cert: str | None = None) -> Applied:
    """Schedule `target` (a `Project` or a package file) on Kubeflow; see the module doc.

    The access options are `submit`'s. Everything that can be checked here (trigger, inputs,
    local files) is checked before anything is sent.
    """
    say = echo or print
    trigger = make_trigger(cron, every, start, end)
    check_concurrency(max_concurrency)
    prepared = prepare(target, pipeline=pipeline)
    plan, settings = prepared.plan, prepared.settings.config
    given, local, storage = checked_inputs(plan, inputs, s3_endpoint, settings.s3, say)
    if trigger.note:
        say(trigger.note)
    connection = connect(config=settings.kubeflow, client=client, host=host,
                         namespace=namespace, token=token, token_file=token_file,
                         ca_cert=ca_cert)
    note_ignored_namespace(connection, say)
    uploaded = _upload_version(connection, prepared, say)
    params = {n: _parameter(v, plan) for n, v in given.items() if v.form != "local"}
    params.update({n: _upload_input(storage(), plan, v, say) for n, v in local.items()})
    experiment_name = _experiment_name(experiment or settings.kubeflow.experiment, plan, say)
    wanted = Schedule(
        "", name or plan.name, uploaded.pipeline_id, uploaded.version_id, True, trigger, params,
        settings.kubeflow.pipeline_root or DEFAULT_PIPELINE_ROOT, max_concurrency,
        _experiment_id(connection, experiment_name, plan))
    description = f"UNIP pipeline {plan.name}: schedule {wanted.name} [unip-kfp schedule]"
    applied = Reconcile(connection, wanted, description, say).run()
    return Applied(applied.action, applied.schedule, applied.replaced, uploaded.created)


def _upload_version(connection: Connection, prepared: Prepared, say: Callable[[str], None]
                    ) -> Upload:
    """Step 1: the package as a content-hash version of its pipeline, as `unip-kfp upload`
    makes it (`versions.py`): an unchanged package uploads nothing."""
    return upload_prepared(connection, prepared, say=say)


def _upload_input(storage: Storage, plan: PipelinePlan, value: InputValue,
                  say: Callable[[str], None]) -> str:
    """A local input in a folder named by its content: the same file is the same input
    (and is uploaded once), so an unchanged schedule stays unchanged."""
    local = value.value
    folder = f"{plan.name}-schedule-{_digest(local)[:12]}/{value.variable.name}"
    destination = Location.parse(box_uri(plan, folder))
    if os.path.isfile(local):
        target = destination.child(os.path.basename(local))
        if storage.is_file(target):
            return target.uri
    elif sorted(_files(local)) == storage.names(destination):
        return destination.uri
    uploaded = storage.upload(local, destination)
    say(f"input {value.variable.name}: {local} -> {uploaded.uri}")
    return uploaded.uri


def _files(folder: str) -> list[str]:
    return [os.path.relpath(os.path.join(root, n), folder).replace(os.sep, "/")
            for root, _, names in os.walk(folder) for n in names]


def _digest(path: str) -> str:
    """SHA-256 over a file's bytes, or a folder's relative names and bytes."""
    digest = hashlib.sha256()
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            digest.update(handle.read())
        return digest.hexdigest()
    for relative in sorted(_files(path)):
        digest.update(relative.encode() + b"\0")
        with open(os.path.join(path, relative), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()

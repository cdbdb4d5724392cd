"""What `unip-kfp prune` may remove, listed first and removed only on request.

* **Local runs** older than an age: the run folder (`<module>/.unip-kfp/runs/<run-id>/`), its
  logs kept under `.unip-kfp/logs/` (`local/logbook.py`) and its report (`local/report.py`).
* **Uploaded input folders** under `<default box>/users/<user>/file_groups/`: a submission's
  own folder (`<pipeline>-<UTC time>-<random>`, `submission.py`) once every run that reads it
  has ended; one that no run reads after a day (an upload whose run was never created); a
  schedule's (`<pipeline>-schedule-<content hash>`, `schedule_steps.py`) once no schedule
  reads it. A folder some schedule reads is always kept.
* **Pipeline versions** beyond the newest N that no schedule uses and no unfinished run
  runs (`DELETE /apis/v2beta1/pipelines/{id}/versions/{version}`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..plan.model import PipelinePlan
from ..s3 import S3, Location
from .connection import Connection
from .history import _newest_runs, run_state
from .progress import TERMINAL
from .schedules import all_schedules
from .versions import _versions, find_pipeline

ORPHAN_AGE = 86400.0  # an upload no run reads is kept a day (its run may be being created)


@dataclass(frozen=True)
class Removal:
    """One thing to remove: its kind, where it is, why it may go, and how."""

    kind: str
    what: str
    why: str
    remove: Callable[[], None] = field(repr=False, compare=False)


# What a local run leaves under `<workdir>/.unip-kfp/`, each in a folder named by its run id:
# the run folder (removed after a fully copied success), its kept logs (local/logbook.py) and
# its report (local/report.py). A run goes as a whole.
RUN_TRACES = ("runs", "logs", "reports")


def local_runs(workdir: str, older_than: float, now: float | None = None) -> list[Removal]:
    """Local runs (run folder, kept logs, report) last changed more than `older_than` s ago."""
    state = os.path.join(workdir, ".unip-kfp")
    places: dict[str, list[str]] = {}
    for kind in RUN_TRACES:
        folder = os.path.join(state, kind)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                places.setdefault(name, []).append(path)
    moment = time.time() if now is None else now
    found = []
    for paths in (places[run_id] for run_id in sorted(places)):
        age = moment - max(os.lstat(path).st_mtime for path in paths)
        if age > older_than:
            also = [os.path.basename(os.path.dirname(path)) for path in paths[1:]]
            why = f"{_days(age)} old" + (f", with its {' and '.join(also)}" if also else "")
            found.append(Removal("local run", paths[0], why, _trees_remover(paths)))
    return found


def _trees_remover(paths: list[str]) -> Callable[[], None]:
    def remove() -> None:
        for path in paths:
            shutil.rmtree(path)

    return remove


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} h"


def input_folders(connection: Connection, storage: S3, plan: PipelinePlan,
                  now: datetime | None = None) -> list[Removal]:
    """Uploaded input folders of this pipeline that nothing will read again (module doc)."""
    root = plan.file_api_root()
    if root is None:
        return []
    groups = Location.parse(root)
    names = {n.split("/", 1)[0] for n in storage.names(groups) if "/" in n}
    submitted = re.compile(rf"^{re.escape(plan.name)}-(\d{{8}}-\d{{6}})-[0-9a-f]{{6}}$")
    scheduled = re.compile(rf"^{re.escape(plan.name)}-schedule-[0-9a-f]{{12}}$")
    readers = _readers(connection, groups.uri)
    moment = now or datetime.now(timezone.utc)
    found = []
    for name in sorted(names):
        runs, schedules = readers.get(name, ([], 0))
        if schedules:
            continue
        match = submitted.match(name)
        if match and runs:
            if all(state in TERMINAL for state in runs):
                found.append(_folder(storage, groups.child(name),
                                     f"its {len(runs)} run(s) ended"))
        elif match:
            uploaded = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(
                tzinfo=timezone.utc)
            if (moment - uploaded).total_seconds() > ORPHAN_AGE:
                found.append(_folder(storage, groups.child(name), "no run reads it"))
        elif scheduled.match(name):
            found.append(_folder(storage, groups.child(name), "no schedule reads it"))
    return found


def _readers(connection: Connection, groups: str) -> dict[str, tuple[list[str], int]]:
    """Folder name -> (states of the runs reading it, number of schedules reading it)."""
    readers: dict[str, tuple[list[str], int]] = {}

    def note(values: Iterable[Any], state: str | None) -> None:
        for value in values:
            if isinstance(value, str) and value.startswith(groups + "/"):
                name = value[len(groups) + 1:].split("/", 1)[0]
                runs, schedules = readers.get(name, ([], 0))
                readers[name] = (runs + [state], schedules) if state else (runs, schedules + 1)

    for run in _newest_runs(connection):
        config = getattr(run, "runtime_config", None)
        note((getattr(config, "parameters", None) or {}).values(), run_state(run))
    for schedule in all_schedules(connection):
        note(schedule.parameters.values(), None)
    return readers


def _folder(storage: S3, location: Location, why: str) -> Removal:
    def remove() -> None:
        from minio.deleteobjects import DeleteObject

        names = storage.names(location)
        with storage.errors(f"removing {location.uri}/"):
            failures = list(storage.client.remove_objects(
                location.bucket, [DeleteObject(location.child(n).key) for n in names]))
        if failures:
            from ..errors import UnreachableError

            raise UnreachableError(f"S3 did not delete {failures[0].name}: "
                                   f"{failures[0].message}")

    return Removal("input folder", location.uri + "/", why, remove)


def old_versions(connection: Connection, pipeline: str, keep: int) -> list[Removal]:
    """Versions of `pipeline` beyond the newest `keep` that no schedule or unfinished run uses."""
    pipeline_id = find_pipeline(connection, pipeline)
    if pipeline_id is None:
        return []
    versions = list(_versions(connection, pipeline_id))  # oldest first
    used = {s.version_id: s for s in all_schedules(connection)}
    running = {str(getattr(getattr(r, "pipeline_version_reference", None),
                           "pipeline_version_id", "") or "")
               for r in _newest_runs(connection) if run_state(r) not in TERMINAL}
    found = []
    for version in versions[: max(len(versions) - keep, 0)]:
        version_id = str(version.pipeline_version_id)
        if version_id in used or version_id in running:
            continue
        label = f"{pipeline}:{version.display_name or version.name} ({version_id})"
        found.append(Removal("pipeline version", label, f"older than the newest {keep}",
                             _version_remover(connection, pipeline_id, version_id)))
    return found


def _version_remover(connection: Connection, pipeline_id: str, version_id: str
                     ) -> Callable[[], None]:
    def remove() -> None:
        with connection.call(f"deleting pipeline version {version_id}"):
            connection.client.delete_pipeline_version(pipeline_id, version_id)

    return remove



def plan_removals(project: Any, *, pipeline: str | None, local_age: str | None, inputs: bool,
                  keep_versions: int | None, workdir: str | None, s3_endpoint: str | None,
                  config: str | None, access: dict[str, Any], say: Callable[[str], None]
                  ) -> list[Removal]:
    """Everything `prune` would remove, in the order local runs, inputs, versions."""
    from ..errors import UsageError
    from ..launch.prepared import module_folder
    from .cron import parse_every
    from .operate import open_connection, pipeline_name, settings_of
    from .submission import _LazyStorage

    found: list[Removal] = []
    if local_age is not None:
        age = parse_every(local_age, "--local-older-than")
        folder = workdir or (module_folder(project.paths) if project is not None else ".")
        found += local_runs(folder, age)
    if not inputs and keep_versions is None:
        return found
    settings = settings_of(project, config)
    connection = open_connection(settings, access)
    if inputs:
        if project is None:
            raise UsageError("--inputs needs the manifests (PATH): their default box and user "
                             "say where the uploads are")
        storage = _LazyStorage(s3_endpoint, settings.config.s3, say)()
        found += input_folders(connection, storage, project.pipeline(pipeline))
    if keep_versions is not None:
        name = pipeline_name(project, pipeline)
        if name is None:
            raise UsageError("--keep-versions needs the pipeline: PATH or --pipeline NAME")
        found += old_versions(connection, name, keep_versions)
    return found


def remove_all(removals: list[Removal], say: Callable[[str], None]) -> None:
    """Remove each item; the first failure stops (what is left stays listed next time)."""
    for item in removals:
        item.remove()
    say(f"removed {len(removals)} item(s)")

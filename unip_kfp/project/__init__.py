"""Internal: import from `unip_kfp`, whose `__all__` names what this package offers.

The Python API over the flow (manifests -> ... -> local | kubeflow), by what it is about:
`running` (`run` here or on Kubeflow, the rule `on_kubeflow`, `attach` to a run by id),
`loaded` (`load` reads, validates and plans manifests into a `Project`, which compiles and
runs them; `check` reports their problems without raising) and `managing` (what is on
Kubeflow beyond one run: `upload` versions, `schedule` them and manage schedules, `runs`
history). Each imports only those before it. Every signature is explicit and typed; kfp
is imported only by what needs it.
"""

from __future__ import annotations

from .loaded import Project, check, load
from .managing import (
    delete_schedule,
    pause_schedule,
    resume_schedule,
    runs,
    schedule,
    schedules,
    upload,
)
from .running import Echo, RunTarget, attach, on_kubeflow, run

__all__ = ["Echo", "Project", "RunTarget", "attach", "check", "delete_schedule", "load",
           "on_kubeflow",
           "pause_schedule", "resume_schedule", "run", "runs", "schedule", "schedules", "upload"]

"""unip-kfp: run UNIP ExperimentPipeline manifests on Kubeflow Pipelines v2, or locally.

The public API is exactly `unip_kfp.__all__` (and the `unip-kfp` command): `load`, `Project`,
`run`, `attach`, `runs`, `upload`, `schedule` and the schedule functions, the types they
return and the errors they raise. Every subpackage (`unip_kfp.local`, `unip_kfp.kubeflow`,
`unip_kfp.compile`, ...) is internal and may change without notice: import from `unip_kfp`.

The data flows manifests -> checks -> plan -> compile -> launch -> local run / Kubeflow.
Importing this package does not import kfp: validation and planning stay fast. The types
of local runs and of Kubeflow are imported on first use (`__getattr__` below).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .compile.package import CompiledPackage
from .errors import (
    CompileError,
    Issue,
    ManifestError,
    RunFailedError,
    UnipKfpError,
    UnreachableError,
    UsageError,
    WaitTimeoutError,
)
from .launch.arguments import InputArgument, OutputDestination
from .manifests.project_config import Settings
from .plan.model import PipelinePlan, ProjectPlan
from .project import (
    Project,
    RunTarget,
    attach,
    check,
    delete_schedule,
    load,
    on_kubeflow,
    pause_schedule,
    resume_schedule,
    run,
    runs,
    schedule,
    schedules,
    upload,
)

if TYPE_CHECKING:
    from .kubeflow.handle import RunHandle
    from .kubeflow.history import RunSummary
    from .kubeflow.logs import Logs, LogsUnavailable
    from .kubeflow.schedule_steps import Applied
    from .kubeflow.schedules import Schedule, Trigger
    from .kubeflow.server_errors import KubeflowUnavailable
    from .kubeflow.sessions import SessionExpired
    from .kubeflow.versions import Upload
    from .local.result import LocalRunResult, RunInterruptedError, StageFailedError, StageResult

__version__ = "0.1.0"

_LAZY = {
    "Applied": "kubeflow.schedule_steps",
    "KubeflowUnavailable": "kubeflow.server_errors",
    "LocalRunResult": "local.result",
    "Logs": "kubeflow.logs",
    "LogsUnavailable": "kubeflow.logs",
    "RunHandle": "kubeflow.handle",
    "RunInterruptedError": "local.result",
    "RunSummary": "kubeflow.history",
    "Schedule": "kubeflow.schedules",
    "SessionExpired": "kubeflow.sessions",
    "StageFailedError": "local.result",
    "StageResult": "local.result",
    "Trigger": "kubeflow.schedules",
    "Upload": "kubeflow.versions",
}
"""Exports from `local/` (which imports kfp) and `kubeflow/`, by module: loaded on first use."""


def __getattr__(name: str) -> object:
    """A lazy export, imported the first time it is asked for (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'unip_kfp' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    # loading, running, after submission
    "Project",
    "RunTarget",
    "__version__",
    "attach",
    "check",
    "load",
    "on_kubeflow",
    "run",
    "runs",
    # what stays on Kubeflow: pipeline versions and schedules
    "delete_schedule",
    "pause_schedule",
    "resume_schedule",
    "schedule",
    "schedules",
    "upload",
    # what the API is given and returns
    "Applied",
    "CompiledPackage",
    "InputArgument",
    "Issue",
    "LocalRunResult",
    "Logs",
    "OutputDestination",
    "PipelinePlan",
    "ProjectPlan",
    "RunHandle",
    "RunSummary",
    "Schedule",
    "Settings",
    "StageResult",
    "Trigger",
    "Upload",
    # errors: every one is a UnipKfpError, whose `exit_code` is the CLI's
    "CompileError",
    "KubeflowUnavailable",
    "LogsUnavailable",
    "ManifestError",
    "RunFailedError",
    "RunInterruptedError",
    "SessionExpired",
    "StageFailedError",
    "UnipKfpError",
    "UnreachableError",
    "UsageError",
    "WaitTimeoutError",
]

"""unip-kfp: run UNIP ExperimentPipeline manifests on Kubeflow Pipelines v2, or locally.

The data flows manifests -> models -> plan -> KFP pipeline -> package -> local run /
Kubeflow. Importing this package does not import kfp: validation and planning stay fast.
"""

from __future__ import annotations

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
from .project import Project, load

__version__ = "0.1.0"

__all__ = [
    "CompileError",
    "Issue",
    "ManifestError",
    "Project",
    "RunFailedError",
    "UnipKfpError",
    "UnreachableError",
    "UsageError",
    "WaitTimeoutError",
    "__version__",
    "load",
]

"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Step 2 of the flow: every rule that can refuse the manifests or `unip-kfp.yaml`.

The checks return `Issue`s (file, line, field path, what to do) and never raise; the plan is
built only from manifests that passed them. `check_project` is the one pass that runs them
all (`check_files` reads the files first), so `validate` and `plan` agree.
"""

from .project import check_files, check_project

__all__ = ["check_files", "check_project"]

"""The environment benchmarks give the processes they time: the caller's, as users have it.

Users run with bytecode caches (pip writes them at install). PYTHONDONTWRITEBYTECODE, common
in containers and CI, would make every timed process compile each imported module from
source (about twice the start-up time of `validate`, a second more for kfp), so the children
cache bytecode in a scratch folder instead; a first, uncounted run fills it.
"""

from __future__ import annotations

import os
from pathlib import Path


def child_environment(scratch: str | Path) -> dict[str, str]:
    """The caller's environment, with bytecode caching on, into `scratch`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
    return env

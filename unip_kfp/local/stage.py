"""One container task as its pod would run it: command line, environment, inputs, outputs.

The pieces, in order: the task's own folder under `stages/` in the run (its input views,
see `sandbox.py`); the pod's variables (`expansion.py`) and, with them, the command line
with placeholders resolved and the kubelet's expansion applied; the process environment;
after the process, the outputs as the launcher uploads them (`upload.py`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..compile.stage_wrapper import TARGET_ROOT_ENV
from ..errors import RunFailedError
from ..naming import ENV_PREFIX
from .data import Artifact, file_uri
from .expansion import expander, pod_variables, stage_environment
from .package_reader import Package
from .placeholders import PlaceholderError, TaskPlaceholders
from .realpaths import RealPaths
from .records import targets
from .sandbox import Isolation, StageBox
from .upload import UploadError, upload_in_place

__all__ = ["Launch", "RunLayout", "Stages", "safe_name"]


@dataclass(frozen=True)
class RunLayout:
    """The run folder and what goes where inside it."""

    run_id: str
    run_dir: str
    workdir: str

    @property
    def artifacts_dir(self) -> str:
        return os.path.join(self.run_dir, "artifacts")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.run_dir, "logs")

    @property
    def imports_dir(self) -> str:
        return os.path.join(self.run_dir, "imports")

    @property
    def paths_dir(self) -> str:
        """Where `path:` targets go when they cannot be shown at their literal paths."""
        return os.path.join(self.run_dir, "paths")

    @property
    def stages_dir(self) -> str:
        """One folder per running stage: its input views (removed when it ends)."""
        return os.path.join(self.run_dir, "stages")

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.run_dir, "tmp")

    @property
    def absent_path(self) -> str:
        """The (never created) local path of the sentinel artifact."""
        return os.path.join(self.run_dir, "absent")


@dataclass
class Launch:
    """A stage ready to start, and what to do once it has ended."""

    argv: list[str]
    env: dict[str, str]
    box: StageBox
    outputs: dict[str, Artifact]
    targets: list[str] = field(default_factory=list)


class Stages:
    """Prepares container tasks the same way for the whole run."""

    def __init__(
        self,
        package: Package,
        layout: RunLayout,
        isolation: Isolation,
        *,
        inherit_env: bool,
        real_paths: RealPaths | None,
        echo: Callable[[str], None],
        host: Mapping[str, str] | None = None,
    ):
        self.package = package
        self.layout = layout
        self.isolation = isolation
        self.inherit_env = inherit_env
        self.real_paths = real_paths
        self.echo = echo
        self.host = dict(os.environ if host is None else host)
        self._warned: set[str] = set()

    def prepare(
        self,
        name: str,
        label: str,
        task: Any,
        component: Any,
        params: Mapping[str, Any],
        arts: Mapping[str, Artifact],
        scope: tuple[str, ...],
    ) -> Launch:
        """The stage's folder, views, command line and environment (nothing started yet)."""
        container = self.package.executor(component).container
        defined = self._pod_variables(label, component, container)
        task_dir = os.path.join(self.layout.artifacts_dir, *map(safe_name, (*scope, name)))
        outputs = {
            key: Artifact(file_uri(path), path)
            for key in component.output_definitions.artifacts
            for path in [os.path.join(task_dir, safe_name(key))]
        }
        folder = os.path.join(self.layout.stages_dir, *map(safe_name, (*scope, name)))
        box = StageBox(self.isolation, folder, self.layout.workdir, self.layout.run_dir)
        try:
            views = {key: self._view(box, art) for key, art in arts.items()}
            argv = TaskPlaceholders(
                params, views, outputs, self._names(name, task, scope), expander(defined)
            ).resolve([*container.command, *container.args])
            literal = targets(argv)
            if self.real_paths is None:
                box.place_targets(literal)
            os.makedirs(task_dir, exist_ok=True)
            env = self._environment(defined)
            return Launch(box.command(argv), env, box, outputs, literal)
        except PlaceholderError as exc:
            box.close()
            raise RunFailedError(f"stage '{label}': {exc}") from None
        except OSError as exc:  # a view or copy of an input could not be made
            box.close()
            raise RunFailedError(f"stage '{label}': cannot prepare its inputs: {exc}") from None
        except BaseException:
            box.close()
            raise

    def ended(self, launch: Launch) -> None:
        """After the process: remove its views; with --real-paths, put its targets back."""
        launch.box.close()
        if self.real_paths is not None:
            try:
                self.real_paths.restore(launch.targets)
            except OSError as exc:
                self.echo(f"unip-kfp: warning: cannot put a --real-paths target back: {exc}")

    def upload(self, launch: Launch, label: str) -> str | None:
        """The outputs as the launcher uploads them; a reason when that fails the stage."""
        for key, artifact in sorted(launch.outputs.items()):
            try:
                for warning in upload_in_place(artifact.path, key):
                    self.echo(f"unip-kfp: {label}: warning: {warning}")
            except UploadError as exc:
                return str(exc)
            except OSError as exc:
                return f"output '{key}' cannot be read as the launcher would upload it: {exc}"
        return None

    def _view(self, box: StageBox, artifact: Artifact) -> Artifact:
        if artifact.path == self.layout.absent_path:
            return artifact  # an omitted optional input: never read
        return Artifact(artifact.uri, box.view(artifact.path))

    def _pod_variables(self, label: str, component: Any, container: Any) -> dict[str, str]:
        env = [(item.name, item.value) for item in container.env]
        defined, missing = pod_variables(env, self.package.secret_env(component), self.host)
        if missing and label not in self._warned:
            self._warned.add(label)
            self.echo(
                f"unip-kfp: {label}: its pod gets {', '.join(missing)} from a box Secret; "
                "they are not set here, so the stage runs without them"
            )
        return defined

    def _environment(self, defined: Mapping[str, str]) -> dict[str, str]:
        env = stage_environment(
            defined,
            tmp_dir=self.layout.tmp_dir,
            inherit=self.inherit_env,
            host=self.host,
            drop=lambda n: n.startswith(ENV_PREFIX) or n == TARGET_ROOT_ENV,
        )
        if self.real_paths is None and not self.isolation.namespaces:
            env[TARGET_ROOT_ENV] = self.layout.paths_dir
        else:
            env.pop(TARGET_ROOT_ENV, None)
        return env

    def _names(self, name: str, task: Any, scope: tuple[str, ...]) -> dict[str, str]:
        run_id = self.layout.run_id
        return {
            "pipeline_job_name": run_id,
            "pipeline_job_resource_name": run_id,
            "pipeline_job_uuid": run_id,
            "pipeline_task_name": task.task_info.name or name,
            "pipeline_task_uuid": "/".join((run_id, *scope, name)),
            "pipeline_root": file_uri(self.layout.run_dir),
        }


def safe_name(name: str) -> str:
    """A file-name-safe form of a task, output or stage name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "_"

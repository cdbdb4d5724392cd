"""`run --reuse`: skip a stage whose result is known for exactly the same work.

The key of a stage (`stage_key`) is the sha256 of what decides its outputs:

- the image reference, the container's command and args as compiled (the user's command
  inside the stage wrapper), its env values as written (never the values a box Secret
  or this machine gives them: no credential goes into a key) and its resource limits;
- the content of every input artifact, by input name (`contenthash.py`): the caller's
  files, box data and earlier stages' outputs alike, names and bytes, not paths;
- the values of its value inputs, and the names of its outputs;
- its code: the content of every command token that names a file or folder inside the
  module folder (`src/train.py`), plus what `cacheKeyFiles` lists for the stage in
  `unip-kfp.yaml` (globs, relative to the module folder) for what the command imports.

Results are kept in `cache_store.py` once a stage succeeded and its outputs were checked
as the launcher uploads them; a failed, stopped or interrupted stage stores nothing.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shlex
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from .cache_store import CacheEntry, CacheStore
from .contenthash import HashMemo, content_hash
from .data import Artifact, file_uri
from .result import StageState, Status
from .stage import RunLayout, safe_name

__all__ = ["Probe", "Reuse", "StageWork", "code_paths", "stage_key"]

_KEY_VERSION = 1


@dataclass(frozen=True)
class StageWork:
    """What a stage is asked to do, as far as its outputs can depend on it."""

    container: Any  # the executor's PipelineContainerSpec
    params: Mapping[str, Any]
    inputs: Mapping[str, str | None]  # input name -> local path (None: an omitted input)
    outputs: Sequence[str]
    command: Sequence[str]  # the user's command (for the code files it names)
    key_files: Sequence[str] = ()  # cacheKeyFiles globs


def stage_key(work: StageWork, workdir: str, memo: HashMemo) -> str:
    """The stage's cache key: a sha256 over everything listed in the module doc."""
    container = work.container
    material = {
        "version": _KEY_VERSION,
        "image": container.image,
        "command": [*container.command, *container.args],
        "env": [[item.name, item.value] for item in container.env],
        "resources": json_format.MessageToDict(container.resources),
        "values": {k: work.params[k] for k in sorted(work.params)},
        "inputs": {k: content_hash(work.inputs[k], memo) for k in sorted(work.inputs)},
        "outputs": sorted(work.outputs),
        "code": {rel: content_hash(os.path.realpath(os.path.join(workdir, rel)), memo)
                 for rel in code_paths(work.command, work.key_files, workdir)},
        "keyFiles": sorted(work.key_files),
    }
    text = json.dumps(material, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def code_paths(command: Sequence[str], key_files: Sequence[str], workdir: str) -> list[str]:
    """The module files a stage's code is: command tokens and `cacheKeyFiles` matches that
    lie inside `workdir` (not the folder itself, nor `.unip-kfp`), relative, sorted."""
    candidates: set[str] = set()
    for item in command:
        try:
            tokens = shlex.split(item)
        except ValueError:
            tokens = item.split()
        for token in tokens:
            candidates.add(token)
            candidates.update(part for part in token.split("=")[1:] if part)
    for pattern in key_files:
        candidates.update(glob.glob(pattern, root_dir=workdir, recursive=True))
    base = os.path.abspath(workdir)
    found = set()
    for token in candidates:
        path = os.path.normpath(os.path.join(base, os.path.expanduser(token)))
        rel = os.path.relpath(path, base)
        if rel == "." or rel.startswith("..") or rel.split(os.sep)[0] == ".unip-kfp":
            continue
        if os.path.lexists(path):
            found.add(rel)
    return sorted(found)


@dataclass
class Probe:
    """A stage's key, and what a run found under it."""

    key: str | None
    outputs: dict[str, Artifact] | None = None


class Reuse:
    """Looks up and keeps stage results for one run."""

    def __init__(self, store: CacheStore, layout: RunLayout, *, pipeline: str,
                 commands: Mapping[str, Sequence[str]], key_files: Mapping[str, Sequence[str]],
                 echo: Callable[[str], None]):
        self.store = store
        self.layout = layout
        self.pipeline = pipeline
        self.commands = commands
        self.key_files = key_files
        self.echo = echo

    def probe(self, state: StageState, name: str, container: Any, component: Any,
              params: Mapping[str, Any], arts: Mapping[str, Artifact],
              scope: tuple[str, ...]) -> Probe:
        """The stage's key; with a sound entry under it, its outputs handed to this run."""
        label = state.name
        inputs = {k: None if a.path == self.layout.absent_path else a.path
                  for k, a in arts.items()}
        outputs = list(component.output_definitions.artifacts)
        work = StageWork(container, params, inputs, outputs,
                         self.commands.get(label) or list(container.command),
                         self.key_files.get(label, ()))
        began = time.time()
        try:
            key = stage_key(work, self.layout.workdir, self.store.memo)
        except OSError as exc:
            self.echo(f"unip-kfp: {label}: not reused: cannot hash its inputs or code ({exc})")
            return Probe(None)
        paths = {o: self._output_path(scope, name, o) for o in outputs}
        entry = self._sound_entry(label, key)
        if entry is None or not self._restore(label, entry, paths):
            return Probe(key)
        state.status, state.reused_from = Status.REUSED, entry.run_id
        state.started, state.finished = began, time.time()
        self._note(state, entry, key)
        return Probe(key, {o: Artifact(file_uri(p), p) for o, p in paths.items()})

    def keep(self, probe: Probe, state: StageState, outputs: Mapping[str, Artifact]) -> None:
        """Store a succeeded stage's outputs under its key (a failure only warns)."""
        if probe.key is None:
            return
        try:
            self.store.store(probe.key, {k: a.path for k, a in outputs.items()},
                             stage=state.name, pipeline=self.pipeline,
                             run_id=self.layout.run_id)
        except OSError as exc:
            self.echo(f"unip-kfp: {state.name}: warning: its result is not kept for reuse: "
                      f"{exc}")

    def _sound_entry(self, label: str, key: str) -> CacheEntry | None:
        entry = self.store.read(key)
        if entry is None:
            return None
        problem = self.store.problem(entry)
        if problem is None:
            return entry
        self.echo(f"unip-kfp: {label}: the stored result of run {entry.run_id} is damaged "
                  f"({problem}): removed, the stage runs again")
        self.store.remove(entry)
        return None

    def _restore(self, label: str, entry: CacheEntry, paths: Mapping[str, str]) -> bool:
        try:
            with self.store.locked(shared=True):
                if self.store.read(entry.key) is None:
                    return False  # pruned meanwhile
                self.store.restore(entry, paths)
            return True
        except OSError as exc:
            for path in paths.values():
                _clear(path)
            self.echo(f"unip-kfp: {label}: not reused: cannot link the stored result ({exc})")
            return False

    def _note(self, state: StageState, entry: CacheEntry, key: str) -> None:
        line = (f"reused the result of run {entry.run_id} (stage '{entry.stage}', cache key "
                f"{key[:16]}): nothing changed")
        with open(state.log_path, "w", encoding="utf-8") as handle:
            handle.write(line + "\n")
        self.echo(f"unip-kfp: {state.name}: {line}")

    def _output_path(self, scope: tuple[str, ...], name: str, output: str) -> str:
        """Where `Stages.prepare` puts the output: `<run>/artifacts/<scope>/<task>/<output>`."""
        return os.path.join(self.layout.artifacts_dir, *map(safe_name, (*scope, name)),
                            safe_name(output))


def _clear(path: str) -> None:
    """Remove a half-linked output, so that the stage can run into an empty place."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def open_reuse(workdir: str, layout: RunLayout, pipeline: str, plan: Any, settings: Any,
               echo: Callable[[str], None]) -> Reuse:
    """The run's `Reuse`: the module's store, each stage's command and `cacheKeyFiles`."""
    store = CacheStore(os.path.join(workdir, ".unip-kfp", "cache"))
    commands = {stage.name: [*stage.command, stage.shell] for stage in plan.stages}
    key_files = {name: tuple(stage.cache_key_files)
                 for name, stage in settings.config.stages.items() if stage.cache_key_files}
    return Reuse(store, layout, pipeline=pipeline, commands=commands, key_files=key_files,
                 echo=echo)

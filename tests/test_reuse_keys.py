"""The stage key of `run --reuse`: every part of it changes it, nothing else does."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kfp.pipeline_spec import pipeline_spec_pb2

from unip_kfp.local import contenthash
from unip_kfp.local.contenthash import HashMemo, content_hash
from unip_kfp.local.reuse import StageWork, code_paths, stage_key

Container: Any = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec
_FAST = settings(max_examples=12, deadline=None, derandomize=True)


def _base(folder: Path) -> StageWork:
    (folder / "src").mkdir()
    (folder / "src" / "run.sh").write_text("echo run\n")
    (folder / "data").mkdir()
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n")
    (folder / "data" / "dir").mkdir()
    (folder / "data" / "dir" / "x").write_text("x")
    container = Container(image="registry.example/app:1", command=["sh", "-c", "sh src/run.sh"],
                          args=["in", "UNIP_PIPELINE_T", "{{$.inputs.artifacts['t'].path}}"])
    container.env.add(name="MODE", value="fast")
    container.resources.resource_cpu_limit = "500m"
    return StageWork(container, {"n": 3, "name": "x"},
                     {"t": str(folder / "data" / "table.csv"), "d": str(folder / "data" / "dir")},
                     ["model"], ["sh", "src/run.sh"], ())


def _edited(container: Any, edit: Callable[[Any], object]) -> Any:
    copy = Container()
    copy.CopyFrom(container)
    edit(copy)
    return copy


def _relevant(folder: Path, work: StageWork, change: str, text: str) -> StageWork:
    """`work` with one part of its key changed (files changed in `folder`)."""
    c = work.container
    if change == "image":
        return replace(work, container=_edited(c, lambda x: setattr(x, "image", c.image + text)))
    if change == "command":
        return replace(work, container=_edited(c, lambda x: x.command.append(text)))
    if change == "env":
        return replace(work, container=_edited(c, lambda x: setattr(x.env[0], "value", text)))
    if change == "limits":
        return replace(work, container=_edited(
            c, lambda x: setattr(x.resources, "resource_memory_limit", text)))
    if change == "value":
        return replace(work, params={**work.params, "name": "x" + text})
    if change == "input file":
        (folder / "data" / "table.csv").write_text("a,b\n1,2\n" + text)
    elif change == "input folder name":
        os.rename(folder / "data" / "dir" / "x", folder / "data" / "dir" / ("x" + text))
    elif change == "input folder bytes":
        (folder / "data" / "dir" / "x").write_text("x" + text)
    elif change == "script":
        (folder / "src" / "run.sh").write_text("echo run\n" + text)
    elif change == "cacheKeyFiles":
        (folder / "lib.sh").write_text(text)
        return replace(work, key_files=("lib.sh",))
    return work


_RELEVANT = ["image", "command", "env", "limits", "value", "input file", "input folder name",
             "input folder bytes", "script", "cacheKeyFiles"]
_TEXT = st.text(alphabet="abcxyz019-_", min_size=1, max_size=6)


@_FAST
@given(change=st.sampled_from(_RELEVANT), text=_TEXT)
def test_each_part_of_the_key_changes_it(change: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        work = _base(folder)
        memo = HashMemo(None)
        before = stage_key(work, name, memo)
        changed = _relevant(folder, work, change, text)
        assert stage_key(changed, name, memo) != before, change


def _irrelevant(folder: Path, work: StageWork, change: str, text: str) -> StageWork:
    """`work` with something changed that its outputs cannot depend on."""
    if change == "input moved":
        moved = folder / f"elsewhere-{text}.csv"
        shutil.copy(folder / "data" / "table.csv", moved)
        return replace(work, inputs={**work.inputs, "t": str(moved)})
    if change == "input touched":
        os.utime(folder / "data" / "table.csv", (1e9, 1e9))
    elif change == "unrelated file":
        (folder / f"notes-{text}.md").write_text(text)
    elif change == "run state":
        (folder / ".unip-kfp" / "runs").mkdir(parents=True, exist_ok=True)
        (folder / ".unip-kfp" / "runs" / text).write_text(text)
    elif change == "value order":
        return replace(work, params=dict(reversed(list(work.params.items()))))
    elif change == "script rewritten alike":
        (folder / "src" / "run.sh").write_text("echo run\n")
    return work


@_FAST
@given(change=st.sampled_from(["input moved", "input touched", "unrelated file", "run state",
                               "value order", "script rewritten alike"]), text=_TEXT)
def test_irrelevant_changes_keep_the_key(change: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        work = _base(folder)
        memo = HashMemo(None)
        before = stage_key(work, name, memo)
        assert stage_key(_irrelevant(folder, work, change, text), name, memo) == before, change


def test_code_paths_are_the_command_tokens_inside_the_module(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    (tmp_path / "conf.yaml").write_text("")
    (tmp_path / ".unip-kfp").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "unused.py").write_text("")
    found = code_paths(["python3 src/train.py --config=conf.yaml . .unip-kfp ../x /etc/hosts"],
                       ["lib/**"], str(tmp_path))
    assert found == ["conf.yaml", "lib", "src/train.py"]


def test_a_file_is_read_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    data = tmp_path / "big"
    data.write_bytes(b"x" * 4096)
    memo = HashMemo(str(tmp_path / "memo" / "hashes.sqlite"))
    first = content_hash(str(data), memo)
    memo.close()
    os.link(data, tmp_path / "linked")  # the same file under another name
    again = HashMemo(str(tmp_path / "memo" / "hashes.sqlite"))  # as a later run opens it

    def unread(path: str) -> str:
        raise AssertionError(f"{path} was read again")

    with monkeypatch.context() as patched:
        patched.setattr(contenthash, "_read_digest", unread)
        assert content_hash(str(data), again) == first
        assert content_hash(str(tmp_path / "linked"), again) == first
    data.write_bytes(b"y" * 4096)  # same size, a new mtime: read again
    assert content_hash(str(data), again) != first
    again.close()

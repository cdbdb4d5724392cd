"""End to end: compile the manifests, run the package on this machine, check outputs by content."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.local_runs import (
    Lines,
    copy_case,
    copy_example,
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
from unip_kfp.local.sandbox import ISOLATION_ENV
from unip_kfp.naming import env_name


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def _metrics(path: Path) -> dict[str, float]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["metric", "value"]
    return {name: float(value) for name, value in rows[1:]}


# --- the example module -----------------------------------------------------------------------


def test_example_through_the_cli_prints_where_metrics_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = copy_example(tmp_path)
    monkeypatch.chdir(module)
    result = CliRunner().invoke(
        main,
        [
            "run",
            "manifests",
            "-i",
            "xy_train=./data/xy_train.csv",
            "-i",
            "xy_test=./data/xy_test.csv",
            "-o",
            "testing_results=./results",
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    metrics = module / "results" / "metrics.csv"
    assert _metrics(metrics)["accuracy"] > 0.7
    assert _metrics(metrics)["n_test"] == 100
    assert str(metrics) in result.stderr
    assert "[stage1] training: extra_parameters not given" in result.stderr
    assert "[stage1] training: stage env MY_VARIABLE=some_value" in result.stderr
    assert "[stage2] testing: extra_parameters not given" in result.stderr
    # every output was copied out: the run folder is gone, the summary says so
    assert run_dirs(module) == []
    assert "run folder removed" in result.stderr


def test_example_with_extra_parameters_keeps_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = copy_example(tmp_path)
    monkeypatch.chdir(module)
    (module / "grid.json").write_text('{"C": [0.5, 2.0]}', encoding="utf-8")
    echo = Lines()
    result = unip_kfp.load("manifests").run_local(
        inputs={
            "xy_train": "./data/xy_train.csv",
            "xy_test": "./data/xy_test.csv",
            "extra_parameters": "./grid.json",
        },
        outputs={"testing_results": "./results"},
        keep=True,
        echo=echo,
    )
    assert _metrics(module / "results" / "metrics.csv")["accuracy"] > 0.7
    assert [(s.name, s.status, s.exit_code) for s in result.stages] == [
        ("stage1", "succeeded", 0),
        ("stage2", "succeeded", 0),
    ]
    assert result.kept and Path(result.run_dir).is_dir()
    assert Path(result.run_dir).parent == module / ".unip-kfp" / "runs"
    # the optional input arrived: the grid search used it
    assert "param_grid from" in read(result.stages[0].log_path)
    assert '"C": [0.5, 2.0]' in read(result.stages[0].log_path)
    assert "testing: extra_parameters used in training" in echo.text
    # the output in the run folder and the copy are the same data
    in_run = Path(result.outputs["testing_results"])
    assert in_run.is_relative_to(Path(result.run_dir))
    assert read(in_run / "metrics.csv") == read(module / "results" / "metrics.csv")
    assert result.copied == {"testing_results": str(module / "results")}


# --- value datatypes --------------------------------------------------------------------------

HOSTILE_TEXT = 'it\'s "q" $(touch PWNED) ; `touch PWNED2` | x && y \\ end\nline 2'


def test_value_datatypes_arrive_as_files_with_the_right_text(tmp_path: Path) -> None:
    module = copy_case("values", tmp_path)
    result = unip_kfp.load(str(module / "manifests")).run_local(
        inputs={
            "rate": "0.5",
            "count": "3",
            "label": HOSTILE_TEXT,
            "config": '{"b": 2, "a": [1, 2.5, 3.0], "c": "<&>", "d": {"z": null, "y": true}}',
        },
        workdir=str(module),
        keep=True,
        echo=Lines(),
    )
    report = Path(result.outputs["report"])
    assert read(report / "rate") == "0.5"
    assert read(report / "count") == "3"
    # as the 2.17 driver writes a struct: compact Go JSON, keys sorted, <>& escaped
    config = read(report / "config")
    assert config == '{"a":[1,2.5,3],"b":2,"c":"\\u003c\\u0026\\u003e","d":{"y":true,"z":null}}'
    assert json.loads(config)["c"] == "<&>"
    assert read(report / "label") == HOSTILE_TEXT
    # the optional value was not given: its variable is unset, not empty
    assert (report / "note-unset").exists() and not (report / "note").exists()
    assert not list(tmp_path.rglob("PWNED*")) and not Path("PWNED").exists()


def test_optional_value_given_and_integral_float(tmp_path: Path) -> None:
    module = copy_case("values", tmp_path)
    result = unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"rate": "3", "count": "-7", "config": "{}", "label": "", "note": "a note"},
        workdir=str(module),
        keep=True,
        echo=Lines(),
    )
    report = Path(result.outputs["report"])
    assert read(report / "rate") == "3"  # FP32 3.0 is written as the driver writes it: %d
    assert read(report / "count") == "-7"
    assert read(report / "config") == "{}"
    assert read(report / "label") == ""
    assert read(report / "note") == "a note"
    assert not (report / "note-unset").exists()


# --- files, folders, internal variables -------------------------------------------------------


def _chain_data(tmp_path: Path) -> tuple[Path, Path]:
    table = tmp_path / "data" / "table.csv"
    table.parent.mkdir()
    table.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    folder = tmp_path / "data" / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text("first\n", encoding="utf-8")
    (folder / "sub" / "two.dat").write_text("second\n", encoding="utf-8")
    return table, folder


def test_folder_and_file_inputs_and_internal_handover_through_private_views(
    tmp_path: Path,
) -> None:
    module = copy_case("chain", tmp_path)
    table, folder = _chain_data(tmp_path)
    out = tmp_path / "out"
    result = unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": str(table), "folder": str(folder)},
        outputs={"result": str(out)},
        workdir=str(module),
        keep=True,
        echo=Lines(),
    )
    assert [s.status for s in result.stages] == ["succeeded"] * 3
    assert read(out / "model.txt") == "rows=3\n"
    assert read(out / "listing") == "./one.txt\n./sub/two.dat\n"
    assert read(out / "notes") == "first\n"
    # the consumer reads the producer's output through a view of its own, as a pod reads
    # its own download of it
    produced = Path(result.run_dir) / "artifacts" / "prepare" / "clean"
    assert read(out / "prepare-wrote-at") == str(produced)
    view = Path(read(out / "train-read-from"))
    assert view.is_relative_to(Path(result.run_dir) / "stages" / "train")
    assert view.name == "clean" and not view.exists()  # gone with the stage
    in_run = Path(result.run_dir) / "artifacts" / "report" / "result"
    assert result.outputs == {"result": str(in_run)}


# --- path: targets ----------------------------------------------------------------------------


def _path_module(module: Path, root: Path) -> Path:
    pipeline = manifest(
        "ExperimentPipeline",
        "paths",
        {
            "vars": [
                {"name": "data", "path": f"{root}/in/data.csv"},
                {"name": "model", "path": f"{root}/model"},
                {"name": "result"},
            ],
            "stages": [
                stage("make", ["sh", "src/make.sh"], ["data"], ["model"]),
                stage("use", ["sh", "src/use.sh"], ["model"], ["result"]),
            ],
        },
    )
    scripts = {
        "make.sh": 'set -eu\nprintf %s "$UNIP_PIPELINE_DATA" > "$UNIP_PIPELINE_MODEL/data-env"\n'
        'cat "$UNIP_PIPELINE_DATA" > "$UNIP_PIPELINE_MODEL/data"\n',
        "use.sh": 'set -eu\nprintf %s "$UNIP_PIPELINE_MODEL" > "$UNIP_PIPELINE_RESULT/model-env"\n'
        'cp "$UNIP_PIPELINE_MODEL/data" "$UNIP_PIPELINE_MODEL/data-env" '
        '"$UNIP_PIPELINE_RESULT/"\n'
        'readlink "$UNIP_PIPELINE_MODEL" > "$UNIP_PIPELINE_RESULT/model-link" || true\n',
    }
    return write_module(module, pipeline, scripts)


def test_path_targets_without_namespaces_stay_inside_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ISOLATION_ENV, "copy")
    root = tmp_path / "literal root"
    manifests = _path_module(tmp_path / "module", root)
    data = tmp_path / "input.csv"
    data.write_text("x\n1\n", encoding="utf-8")
    result = unip_kfp.load(str(manifests)).run_local(
        inputs={"data": str(data)}, keep=True, echo=Lines()
    )
    out = Path(result.outputs["result"])
    paths = Path(result.run_dir) / "paths"
    assert read(out / "model-env") == f"{paths}{root}/model"
    assert read(out / "data-env") == f"{paths}{root}/in/data.csv"
    assert read(out / "data") == "x\n1\n"
    assert Path(f"{paths}{root}/model").is_symlink()
    assert not root.exists()  # nothing was written at the literal paths


def test_real_paths_places_targets_at_the_literal_paths_and_removes_them(
    tmp_path: Path,
) -> None:
    root = tmp_path / "literal root"
    manifests = _path_module(tmp_path / "module", root)
    data = tmp_path / "input.csv"
    data.write_text("x\n2\n", encoding="utf-8")
    result = unip_kfp.load(str(manifests)).run_local(
        inputs={"data": str(data)}, real_paths=True, keep=True, echo=Lines()
    )
    out = Path(result.outputs["result"])
    assert read(out / "model-env") == f"{root}/model"
    assert read(out / "data-env") == f"{root}/in/data.csv"
    assert read(out / "data") == "x\n2\n"
    # during the stage the target was a link to the stage's own view of the model
    assert read(out / "model-link").startswith(f"{result.run_dir}/stages/use/")
    assert not root.exists()  # what the run created there is gone again


# --- hostile names, paths and values ----------------------------------------------------------


def test_hostile_names_paths_and_values_are_data_never_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    evil = "$(touch PWNED); `touch PWNED`; 'q' \"dq\""
    pipeline = manifest(
        "ExperimentPipeline",
        "hostile",
        {
            "vars": [
                {"name": 'in put "q"'},
                {"name": "va'l; $(x)"},
                {"name": "out|put", "path": f"/p a t h/{evil}/o"},
            ],
            "stages": [
                stage(
                    f"copy {evil}", ["sh", "src/copy.sh"], ['in put "q"', "va'l; $(x)"], ["out|put"]
                )
            ],
        },
    )
    api = manifest(
        "APIComponent",
        "hostile-api",
        {
            "experimentPipeline": {"name": "hostile"},
            "apiSpec": {
                "inputs": [
                    {"name": 'in put "q"', "type": {"datatypes": ["FILE"]}},
                    {"name": "va'l; $(x)", "type": {"datatypes": ["str"]}},
                ],
                "outputs": [{"name": "out|put"}],
            },
        },
    )
    source_env, value_env, out_env = (env_name(v) for v in ('in put "q"', "va'l; $(x)", "out|put"))
    assert value_env == "UNIP_PIPELINE_VA_L____X_"
    script = (
        "set -eu\n"
        f'cp "${source_env}" "${out_env}/copied"\n'
        f'cp "${value_env}" "${out_env}/value"\n'
        f'printf %s "${out_env}" > "${out_env}/where"\n'
    )
    manifests = write_module(tmp_path / f"mod {evil}", pipeline, {"copy.sh": script}, api)
    source = tmp_path / f'we\'ird "dir" {evil}' / "da ta.txt"
    source.parent.mkdir()
    source.write_text(f"payload {evil}\n", encoding="utf-8")
    dest = tmp_path / f"res ult {evil}"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "run",
            str(manifests),
            "-i",
            f'in put "q"={source}',
            "-i",
            f"va'l; $(x)={evil}",
            "-o",
            f"out|put={dest}",
            "--keep",
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert read(dest / "copied") == f"payload {evil}\n"
    assert read(dest / "value") == evil
    run = run_dirs(manifests.parent)[0]
    rerooted = "" if namespaces_available() else f"{run}/paths"
    assert read(dest / "where") == f"{rerooted}/p a t h/{evil}/o"
    assert (run / "logs" / "copy_touch_PWNED_touch_PWNED_q_dq_.log").is_file()
    assert f"copy {evil}" in result.stderr  # the stage keeps its name in the summary
    assert not list(tmp_path.rglob("PWNED*")) and not os.path.exists("/p a t h")

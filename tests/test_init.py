"""`unip-kfp init`: a new module that validates and runs with the two commands it prints.

The module is checked as its author meets it: the printed commands run in a shell from the
new folder (the stages with this interpreter's `python3`, standard library only), every
manifest validates with no warning and is bound to its schema by its first line, the
commented options of unip-kfp.yaml are valid once uncommented, the README shows the graph,
and nothing that exists is ever overwritten.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

import unip_kfp
from unip_kfp.checks.roles import Role
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_USAGE
from unip_kfp.manifests import json_schemas as schema
from unip_kfp.manifests.project_config import load_settings
from unip_kfp.plan.model import Kind
from unip_kfp.views import graph

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ("api.yaml", "databox.yaml", "pipeline.yaml", "pipelines-api.yaml")


def init(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run `unip-kfp init ARGS` in `cwd` as a user would (a real process)."""
    done = subprocess.run(
        [sys.executable, "-m", "unip_kfp", "init", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def printed_commands(stdout: str) -> list[str]:
    """The commands `init` tells the user to run next (indented lines after 'next')."""
    tail = stdout.split("next, in ", 1)[1].splitlines()[1:]
    return [line.strip() for line in tail if line.startswith("  ") and line.strip()]


def readme_block() -> list[str]:
    """The commands of README.md's "Authoring a module" block, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- readme-test: authoring -->\n```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """README's `unip-kfp init demo` in a fresh folder: the module and what init printed."""
    root = tmp_path_factory.mktemp("init")
    first, *rest = readme_block()
    assert first == "unip-kfp init demo"
    code, out, err = init(root, "demo")
    assert code == 0, err
    assert rest == ["cd demo", *printed_commands(out)], "README's block is not what init says"
    return root / "demo", out


def test_init_prints_two_commands_that_validate_and_run(demo: tuple[Path, str]) -> None:
    folder, out = demo
    assert f"next, in {folder.name}/:" in out or "next, in demo/:" in out
    commands = printed_commands(out)
    assert len(commands) == 2, out
    assert commands[0] == "unip-kfp validate manifests"
    assert commands[1].startswith("unip-kfp run manifests ")
    validated = shell(commands[0], folder)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.strip() == "ok: manifests"
    assert "warning" not in validated.stderr
    ran = shell(commands[1], folder)
    assert ran.returncode == 0, ran.stderr
    assert "[prepare]" in ran.stderr and "[score]" in ran.stderr
    report = ran.stderr.rstrip().splitlines()[-1].removeprefix("report: ")
    assert Path(report).is_file() and Path(report).is_relative_to(folder / ".unip-kfp")
    summary = json.loads((folder / "results" / "summary.json").read_text())
    assert summary["rows"] == 24 and summary["threshold"] == 2.5
    assert summary["flagged"] == 2 and summary["columns"] == ["temperature", "pressure", "humidity"]
    with (folder / "results" / "scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 and {r["flagged"] for r in rows} == {"true", "false"}
    readme = (folder / "README.md").read_text()
    for command in commands:
        assert command in readme


def test_the_optional_input_changes_the_result(demo: tuple[Path, str], tmp_path: Path) -> None:
    folder, _ = demo
    project = unip_kfp.load(str(folder / "manifests"))
    result = project.run_local(
        inputs={
            "dataset": str(folder / "data" / "dataset.csv"),
            "threshold": "2.5",
            "options": str(folder / "data" / "options.json"),
        },
        outputs={"results": str(tmp_path / "out")},
        echo=lambda line: None,
    )
    assert result.succeeded
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["columns"] == ["temperature", "pressure"]


def test_the_module_validates_without_warnings_and_plans_as_described(
    demo: tuple[Path, str],
) -> None:
    folder, _ = demo
    project = unip_kfp.load(str(folder / "manifests"))
    assert project.warnings == ()
    plan = project.pipeline()
    assert plan.name == "demo" and plan.namespace == "demo"
    assert [s.name for s in plan.stages] == ["prepare", "score"]
    roles = {v.name: v.role for v in plan.variables}
    assert roles == {
        "dataset": Role.INPUT,
        "options": Role.INPUT,
        "threshold": Role.INPUT,
        "features": Role.INTERNAL,
        "results": Role.OUTPUT,
    }
    assert not plan.variable("options").required
    assert plan.variable("threshold").kind is Kind.FLOAT
    assert plan.variable("dataset").kind is Kind.FILE
    kinds = sorted(m.model.kind for m in project.manifests.manifests)
    assert kinds == ["APIComponent", "APIComponent", "DataBox", "ExperimentPipeline"]
    general = [
        m.model for m in project.manifests.manifests
        if m.model.kind == "APIComponent" and m.model.spec.pipelines is not None  # type: ignore[attr-defined]
    ]  # fmt: skip
    assert general and general[0].spec.pipelines.enabled  # type: ignore[attr-defined]


def test_manifests_are_bound_to_their_schemas(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    for name, text in schema.schema_files().items():
        assert (folder / "schemas" / name).read_text() == text
    files = [folder / "manifests" / m for m in MANIFESTS] + [folder / "unip-kfp.yaml"]
    for path in files:
        first = path.read_text().splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, f"{path.name}: {first}"
        bound = (path.parent / match.group(1)).resolve()
        assert bound.is_file(), bound
        document = json.loads(bound.read_text())
        for data in yaml.safe_load_all(path.read_text()):
            if data is not None:
                jsonschema.Draft7Validator(document).validate(data)


def test_config_options_are_valid_once_uncommented(demo: tuple[Path, str], tmp_path: Path) -> None:
    folder, _ = demo
    text = (folder / "unip-kfp.yaml").read_text()
    assert load_settings(str(folder / "unip-kfp.yaml")).config.boxes == {}  # all commented
    options = [line[2:] for line in text.split("\n#\n", 1)[1].splitlines() if line.startswith("# ")]
    uncommented = "\n".join(options) + "\n"
    data = yaml.safe_load(uncommented)
    for key in ("user", "boxes", "imagePullSecrets", "nodeSelector", "tolerations", "stages",
                "s3", "kubeflow"):  # fmt: skip
        assert key in data, key
    config = tmp_path / "unip-kfp.yaml"
    config.write_text(uncommented)
    project = unip_kfp.load(str(folder / "manifests"), config=str(config))
    assert project.pipeline().boxes[0].uri == data["boxes"]["data-box"]["uri"]
    document = json.loads((folder / "schemas" / "unip-kfp.schema.json").read_text())
    jsonschema.Draft7Validator(document).validate(data)


def test_readme_embeds_the_mermaid_graph(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    readme = (folder / "README.md").read_text()
    expected = graph.to_mermaid(graph.build(unip_kfp.load(str(folder / "manifests")).pipeline()))
    assert f"```mermaid\n{expected}```\n" in readme
    assert "# yaml-language-server: $schema=" in readme


def test_image_and_stage_scripts_follow_the_platform(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    dockerfile = (folder / "Dockerfile").read_text()
    assert re.search(r"^FROM python:[0-9.]+-slim$", dockerfile, re.M)
    ignored = (folder / ".dockerignore").read_text().split()
    for entry in (".git", "data", ".unip-kfp", "results"):
        assert entry in ignored
    assert ".unip-kfp/" in (folder / ".gitignore").read_text()
    for script in ("prepare.py", "score.py"):
        source = (folder / "src" / script).read_text()
        assert "UNIP_PIPELINE_" in source
        tree = ast.parse(source)
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }  # fmt: skip
        assert imported <= set(sys.stdlib_module_names), imported


def test_stage_script_reports_a_missing_input_clearly(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    folder, _ = demo
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIP_PIPELINE_")}
    env["UNIP_PIPELINE_FEATURES"] = str(tmp_path / "features")
    done = subprocess.run(
        [sys.executable, "src/prepare.py"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "UNIP_PIPELINE_DATASET is not set" in done.stderr and "Traceback" not in done.stderr


# --- options and refusals -------------------------------------------------------------------


def test_name_and_namespace_options(tmp_path: Path) -> None:
    args = ["init", str(tmp_path / "here"), "--name", "churn", "--namespace", "pu-team-churn"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    project = unip_kfp.load(str(tmp_path / "here" / "manifests"))
    names = sorted(m.model.metadata.name for m in project.manifests.manifests)
    assert names == ["churn", "churn-api", "churn-data", "churn-pipelines-api"]
    assert {m.model.metadata.namespace for m in project.manifests.manifests} == {"pu-team-churn"}
    assert project.pipeline().stages[0].image == "registry.example.com/pu-team-churn/churn:0.1.0"


def test_name_defaults_to_the_folder_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "My Module_2")])
    assert result.exit_code == 0, result.output
    plan = unip_kfp.load(str(tmp_path / "My Module_2" / "manifests")).pipeline()
    assert plan.name == "my-module-2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--name", "Bad_Name"], "--name 'Bad_Name'"),
        (["x", "--name", "a" * 50], "at most 49"),
        (["x", "--namespace", "team a"], "--namespace 'team a'"),
        (["___"], "--name"),
    ],
)
def test_bad_names_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["init", *[str(tmp_path / a) if i == 0 else a
                                                  for i, a in enumerate(args)]])  # fmt: skip
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / args[0]).exists()


def test_init_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "manifests").mkdir(parents=True)
    (folder / "README.md").write_text("my notes\n")
    (folder / "manifests" / "pipeline.yaml").write_text("mine: true\n")
    (folder / "other.txt").write_text("kept\n")
    result = CliRunner().invoke(main, ["init", str(folder)])
    assert result.exit_code == EXIT_USAGE
    assert "README.md" in result.stderr and "manifests/pipeline.yaml" in result.stderr
    assert "nothing was written" in result.stderr
    assert (folder / "README.md").read_text() == "my notes\n"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "README.md", "manifests", "manifests/pipeline.yaml", "other.txt",
    ]  # fmt: skip


def test_init_into_an_existing_empty_folder_and_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "manifests" / "pipeline.yaml").is_file()
    assert "next, in ./:" in result.stdout
    assert printed_commands(result.stdout)[0] == "unip-kfp validate manifests"


def test_init_over_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    result = CliRunner().invoke(main, ["init", str(tmp_path / "f")])
    assert result.exit_code == EXIT_USAGE
    assert "is a file" in result.stderr

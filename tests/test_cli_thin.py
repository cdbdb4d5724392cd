"""The CLI is thin: commands parse, call one API function, render (issue 11, point 3).

Where a run goes is the API's decision (`unip_kfp.run`, `on_kubeflow`), and every command
gets its manifests from one decorator (`project_options`), never by loading them itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from support.kubeflow_env import HookedKfpServer, cli
from support.local_runs import isolate, manifest, stage, write_module

from unip_kfp import Project
from unip_kfp.cli.common import LoadOptions, load_options, project_options

CLI = Path(__file__).resolve().parent.parent / "unip_kfp" / "cli"

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def calls_of(path: Path) -> set[str]:
    return {node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))}


def test_run_command_decides_nothing_itself() -> None:
    """No backend, no settings, no environment: `run` calls the API's `run` once."""
    source = CLI / "run.py"
    imported = imports_of(source)
    assert not {i for i in imported if i.startswith(("..local", "..kubeflow", "..manifests"))}
    names = {node.attr if isinstance(node, ast.Attribute) else node.id
             for node in ast.walk(ast.parse(source.read_text()))
             if isinstance(node, (ast.Attribute, ast.Name))}
    assert "os" not in imported and not {"environ", "getenv"} & names
    assert not {"load_settings", "find_config", "is_package", "settings"} & names
    assert {"run_pipeline", "on_kubeflow"} <= calls_of(source)


def test_commands_get_their_project_from_the_decorator() -> None:
    for source in sorted(CLI.glob("*.py")):
        if source.name == "common.py":
            continue
        calls = calls_of(source)
        assert not {"load", "load_for_command", "load_project"} & calls, source.name
        assert "plan_options" not in source.read_text(), source.name


# --- the decorator ---------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train-test" / "manifests"


def _probe(**decorator: bool) -> click.Command:
    @click.command()
    @click.argument("path", required=False)
    @project_options(**decorator)
    def probe(**given: object) -> None:
        for name, value in sorted(given.items()):
            shown = type(value).__name__ if isinstance(value, Project) else repr(value)
            click.echo(f"{name}={shown}")

    return probe


def test_project_options_hand_a_loaded_project() -> None:
    result = CliRunner().invoke(_probe(), [str(EXAMPLE), "--user", "u"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "project=Project\n"


def test_project_options_hand_a_package_path_as_it_is(tmp_path: Path) -> None:
    package = tmp_path / "p.yaml"
    assert cli("compile", EXAMPLE, "-o", package).exit_code == 0
    result = CliRunner().invoke(_probe(packages=True, keep_config=True),
                                [str(package), "--config", "c.yaml"])
    assert result.stdout == f"config='c.yaml'\ntarget={str(package)!r}\n"
    manifests = CliRunner().invoke(_probe(packages=True), [str(EXAMPLE)])
    assert manifests.stdout == "target=Project\n"


def test_project_options_without_path_and_their_errors(tmp_path: Path) -> None:
    assert CliRunner().invoke(_probe(optional=True), []).stdout == "project=None\n"
    bad_box = CliRunner().invoke(_probe(), [str(EXAMPLE), "--box", "nobox"])
    assert bad_box.exit_code == 2 and "expected NAME=VALUE" in bad_box.output
    (tmp_path / "p.yaml").write_text("kind: ExperimentPipline\n")
    invalid = CliRunner().invoke(_probe(), [str(tmp_path)])
    assert invalid.exit_code == 3 and invalid.stdout == ""


def test_load_options_hand_the_options_unloaded(tmp_path: Path) -> None:
    @click.command()
    @click.argument("paths", nargs=-1)
    @load_options
    def probe(paths: tuple[str, ...], options: LoadOptions) -> None:
        click.echo(repr(options))

    (tmp_path / "p.yaml").write_text("kind: ExperimentPipline\n")  # never loaded here
    result = CliRunner().invoke(probe, [str(tmp_path), "--box", "b=s3://x/y", "--strict"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "LoadOptions(boxes={'b': 's3://x/y'}, user=None, strict=True, config=None)\n")


# --- `unip-kfp run`: the API's rule, through the command ------------------------------------


@pytest.fixture(name="manifests")
def manifests_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate(tmp_path, monkeypatch)
    monkeypatch.setenv("UNIP_KFP_POLL_INTERVAL", "0.02")
    pipeline = manifest("ExperimentPipeline", "hello", {
        "vars": [{"name": "out"}],
        "stages": [stage("hello", ["sh", "src/hello.sh"], [], ["out"])],
    })
    return write_module(tmp_path / "module", pipeline,
                        {"hello.sh": 'echo hi > "$UNIP_PIPELINE_OUT/greeting"\n'})


def test_run_goes_where_the_api_says(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path, tmp_path: Path
) -> None:
    (manifests.parent / "unip-kfp.yaml").write_text(f"kubeflow:\n  host: {kfp.url}\n")
    remote = cli("run", manifests)
    assert remote.exit_code == 0, remote.output
    (run_id,) = kfp.runs
    assert remote.stdout == f"{run_id}\n"  # the run id, printed when submitted
    here = cli("run", manifests, "--local", "-o", f"out={tmp_path / 'got'}")
    assert here.exit_code == 0, here.output
    assert (tmp_path / "got" / "greeting").read_text() == "hi\n" and len(kfp.runs) == 1
    refused = cli("run", manifests, "--local", "--upload")
    assert refused.exit_code == 2 and "--from-version and --upload run on Kubeflow" in \
        refused.stderr


def test_a_token_is_read_only_for_a_kubeflow_run(manifests: Path) -> None:
    result = CliRunner().invoke(click.Group(commands={"run": _run_command()}),
                                ["run", str(manifests), "--token", "s3cret"])
    assert result.exit_code == 0, result.output
    assert "shell history" not in result.stderr


def _run_command() -> click.Command:
    from unip_kfp.cli.run import run

    return run

"""Whose fault a compile failure is (issue 11, point 5).

Only Kubeflow Pipelines' own refusals are exit 4 ("Kubeflow Pipelines rejected it"). An
exception raised by our own code inside the same blocks (pipeline.py's `build_pipeline` and
`_blame`, package.py's `_serialise`) is a bug of ours: it reaches the CLI unchanged, which
reports "internal error ... please report" with exit 70, and the traceback only with
UNIP_KFP_DEBUG=1. `compile/refusals.py` decides from where the exception was raised, so
the classifier is tested on real tracebacks: kfp's code refusing real input, and our code
failing, both with the same exception types.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from kfp.dsl import utils as kfp_utils
from support.goldens import CASES, EXAMPLES, USER

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.compile import package, pipeline
from unip_kfp.compile.refusals import raised_by_kfp
from unip_kfp.errors import CompileError
from unip_kfp.plan.model import PipelinePlan, Stage

MANIFESTS = EXAMPLES / "train-test" / "manifests"
ROOT = Path(__file__).resolve().parent.parent


def plan_of(case_id: str) -> PipelinePlan:
    case = CASES[case_id]
    project = unip_kfp.load(str(case.path), boxes=dict(case.boxes), user=USER)
    (plan,) = project.plan.pipelines
    return plan


def compile_cli(tmp_path: Path) -> Result:
    return CliRunner().invoke(main, ["compile", str(MANIFESTS), "-o", str(tmp_path / "out")])


def caught(call: Any, *args: Any) -> BaseException:
    """The exception `call(*args)` raises, with its real traceback."""
    with pytest.raises(Exception) as info:
        call(*args)
    return info.value


# --- our bugs inside the wrapped blocks: exit 70, never exit 4


def our_bug(*_args: object) -> None:
    raise KeyError("a bug in unip-kfp")


def assert_internal_error(result: Result) -> None:
    assert result.exit_code == 70, result.output
    assert "internal error: KeyError: 'a bug in unip-kfp'" in result.stderr
    assert "please report" in result.stderr
    assert "Kubeflow Pipelines" not in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNIP_KFP_DEBUG", raising=False)


@pytest.mark.usefixtures("no_debug")
def test_a_bug_of_ours_in_a_stage_task_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_blame` wraps each stage task; our helper failing there is not kfp refusing."""
    monkeypatch.setattr(pipeline, "set_container_settings", our_bug)
    assert_internal_error(compile_cli(tmp_path))


@pytest.mark.usefixtures("no_debug")
def test_a_bug_of_ours_while_building_the_pipeline_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`build_pipeline`'s block: `tidy` (ours) runs inside it, after kfp built the graph."""
    monkeypatch.setattr(pipeline, "tidy", our_bug)
    assert_internal_error(compile_cli(tmp_path))


@pytest.mark.usefixtures("no_debug")
def test_a_bug_of_ours_while_serialising_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_serialise`'s block: a component of the wrong shape fails in our frame."""
    real = pipeline.build_pipeline

    def shapeless(plan: PipelinePlan, options: Any = None) -> Any:
        component = real(plan, options)  # no platform_spec: `_serialise` trips over it
        return SimpleNamespace(pipeline_spec=component.pipeline_spec, description=None)

    monkeypatch.setattr(pipeline, "build_pipeline", shapeless)
    result = compile_cli(tmp_path)
    assert result.exit_code == 70, result.output
    assert "internal error: AttributeError" in result.stderr and "please report" in result.stderr
    assert "Kubeflow Pipelines" not in result.stderr


def test_our_bug_reaches_the_cli_unchanged_and_debug_shows_its_traceback(
    tmp_path: Path,
) -> None:
    """A real process, as a user runs it: with UNIP_KFP_DEBUG=1 the KeyError's traceback
    is printed, down to our frame that raised it, and no CompileError is wrapped around it."""
    program = textwrap.dedent(
        """
        import sys
        from unip_kfp.compile import pipeline
        from unip_kfp.cli import main

        def set_container_settings(task, stage):
            raise KeyError("a bug in unip-kfp")

        pipeline.set_container_settings = set_container_settings
        sys.argv = ["unip-kfp", "compile", sys.argv[1], "-o", sys.argv[2]]
        main()
        """
    )
    script = tmp_path / "buggy_unip_kfp.py"
    script.write_text(program)
    env = {**os.environ, "UNIP_KFP_DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, str(script), str(MANIFESTS), str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert done.returncode == 1, done.stderr  # Python's own exit for an uncaught exception
    assert "Traceback (most recent call last)" in done.stderr
    assert 'in set_container_settings\n    raise KeyError("a bug in unip-kfp")' in done.stderr
    assert done.stderr.rstrip().endswith("KeyError: 'a bug in unip-kfp'")
    assert "CompileError" not in done.stderr and "Kubeflow Pipelines rejected" not in done.stderr


# --- kfp's own refusals inside the same blocks: still exit 4, with kfp's message


@pytest.mark.usefixtures("no_debug")
def test_kfp_refusing_a_stage_task_is_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kfp's real setter, unpatched, refusing a cpu quantity inside `_blame`."""

    def kfp_setter(task: Any, stage: Stage) -> None:
        task.set_cpu_limit("lots")

    monkeypatch.setattr(pipeline, "set_container_settings", kfp_setter)
    result = compile_cli(tmp_path)
    assert result.exit_code == 4, result.output
    assert "stage 'stage1' of pipeline 'my-pipeline': Kubeflow Pipelines rejected it: " in (
        result.stderr
    )
    assert "Invalid cpu string" in result.stderr


@pytest.mark.usefixtures("no_debug")
def test_kfp_refusing_to_serialise_is_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kfp's header writer fails (KeyError, in kfp's frame) on a spec without pipelineInfo."""
    real = pipeline.tidy

    def without_info(spec: Any, groups: Any) -> None:
        real(spec, groups)
        spec.ClearField("pipeline_info")

    monkeypatch.setattr(pipeline, "tidy", without_info)
    result = compile_cli(tmp_path)
    assert result.exit_code == 4, result.output
    assert "Kubeflow Pipelines refused to compile it: 'pipelineInfo'" in result.stderr


def stageless(plan: PipelinePlan) -> PipelinePlan:
    """A plan kfp's graph builder refuses (planning never makes one): nothing to run."""
    return dataclasses.replace(plan, stages=(), variables=())


def test_kfp_refusing_the_pipeline_is_a_compile_error() -> None:
    """`build_pipeline`'s block, nothing patched: kfp refuses a pipeline without tasks."""
    with pytest.raises(CompileError, match="rejected it: Task is missing from pipeline"):
        pipeline.build_pipeline(stageless(plan_of("seed-000")))


# --- the classifier, on real tracebacks


def test_kfp_raising_on_its_own_is_a_refusal() -> None:
    assert raised_by_kfp(caught(kfp_utils.validate_pipeline_name, "Not A Name"))


def test_kfp_raising_below_our_frames_is_a_refusal() -> None:
    error = caught(package.compile_to_bytes, stageless(plan_of("seed-000")))
    assert isinstance(error, CompileError) and isinstance(error.__cause__, ValueError)
    assert raised_by_kfp(error.__cause__)


def test_our_frame_raising_is_ours() -> None:
    assert not raised_by_kfp(caught(plan_of("seed-000").variable, "no-such-variable"))


def test_the_stdlib_called_from_our_frame_is_ours() -> None:
    error = caught(package.write_package, "/dev/null/inside/p.yaml", b"")
    assert isinstance(error, OSError)  # raised in os.makedirs, called by write_package
    assert not raised_by_kfp(error)


def test_our_code_called_back_by_kfp_raising_is_ours() -> None:
    """kfp calls our pipeline body; a stage whose producer is not built yet fails in our frame.

    Built by hand (stages out of order): planning never makes such a plan. The KeyError
    passes both `_blame` and `build_pipeline` unchanged, although kfp's frames lie above it.
    """
    plan = plan_of("seed-000")
    assert any(b.source and b.source.origin == "task" for s in plan.stages for b in s.inputs)
    backwards = dataclasses.replace(plan, stages=plan.stages[::-1])
    error = caught(pipeline.build_pipeline, backwards)
    assert type(error) is KeyError
    assert not raised_by_kfp(error)

"""README.md's marked blocks run as written.

A block is marked by an HTML comment line ``<!-- readme-test: NAME -->`` right before its
fence. ``sh`` blocks run with bash (``-euo pipefail``) and ``python`` blocks in one shared
namespace, in README order, from a scratch copy of the repository root (its ``examples/``),
so nothing in the checkout changes. Blocks whose name ends in ``-kubeflow`` talk to the KFP
API test server and the S3 test server: the README's placeholder host is the only text
replaced, by the test server's address. The stages' ``python3`` is this interpreter's, as
``make demo`` does it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.kfp_api_server import RunRecord
from support.kubeflow_env import ROOT, HookedKfpServer, put_output
from support.s3_server import S3Endpoint

README = ROOT / "README.md"
PLACEHOLDER_HOST = "https://kubeflow.example/pipeline"
MARK = re.compile(r"^<!-- readme-test: ([a-z0-9-]+) -->\n```(\w+)\n(.*?)^```$", re.M | re.S)
METRICS = b"metric,value\naccuracy,0.9\n"


@dataclass(frozen=True)
class Block:
    name: str
    language: str
    code: str


def marked_blocks() -> dict[str, Block]:
    """Every marked block of README.md, by name."""
    text = README.read_text()
    blocks = {m[1]: Block(m[1], m[2], m[3]) for m in MARK.finditer(text)}
    marks = re.findall(r"^<!-- readme-test: ([a-z0-9-]+) -->", text, re.M)
    assert sorted(marks) == sorted(blocks), "a readme-test mark is not right before a fence"
    return blocks


def test_the_readme_marks_its_runnable_blocks() -> None:
    blocks = marked_blocks()
    assert {"cli", "cli-kubeflow", "python", "python-kubeflow"} <= set(blocks)
    assert all(b.language in ("sh", "python") for b in blocks.values())
    assert PLACEHOLDER_HOST in blocks["python-kubeflow"].code


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of what the blocks read (examples/), as the current folder; the venv first on
    PATH, so `unip-kfp` and the stages' `python3` are this environment's."""
    root = tmp_path / "repo"
    shutil.copytree(
        ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns(".unip-kfp", "out")
    )
    for leftover in root.glob("examples/*/results"):
        shutil.rmtree(leftover)
    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return root


def run_sh(code: str, cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def test_cli_block_runs_locally(scratch: Path) -> None:
    run_sh(marked_blocks()["cli"].code, scratch)
    module = scratch / "examples" / "train-test"
    assert (module / "out" / "my-pipeline.yaml").is_file()
    assert sorted(p.name for p in (module / "components" / "my-pipeline").iterdir()) == [
        "stage1.yaml",
        "stage2.yaml",
    ]
    metrics = (module / "results" / "metrics.csv").read_text()
    assert metrics.startswith("metric,value\naccuracy,")


def test_python_blocks_run_locally_then_on_kubeflow(
    scratch: Path, kfp: HookedKfpServer, env: S3Endpoint
) -> None:
    kfp.on_run.append(lambda run: _launcher_writes(env, run))
    blocks = marked_blocks()
    namespace: dict[str, object] = {}
    exec(compile(blocks["python"].code, "README.md[python]", "exec"), namespace)  # noqa: S102
    assert (scratch / "out" / "my-pipeline.yaml").is_file()
    local_results = Path(str(namespace["result"].outputs["testing_results"]))  # type: ignore[attr-defined]
    assert (local_results / "metrics.csv").read_text().startswith("metric,value\naccuracy,")

    code = blocks["python-kubeflow"].code.replace(PLACEHOLDER_HOST, kfp.url)
    exec(compile(code, "README.md[python-kubeflow]", "exec"), namespace)  # noqa: S102
    assert (scratch / "results" / "metrics.csv").read_bytes() == METRICS
    (run,) = kfp.runs.values()
    assert set(run.body["runtime_config"]["parameters"]) >= {"xy_train", "xy_test"}


def test_cli_kubeflow_block_runs_against_the_test_servers(
    scratch: Path, kfp: HookedKfpServer, env: S3Endpoint
) -> None:
    kfp.on_run.append(lambda run: _launcher_writes(env, run))
    code = marked_blocks()["cli-kubeflow"].code.replace(PLACEHOLDER_HOST, kfp.url)
    run_sh(code, scratch)
    module = scratch / "examples" / "train-test"
    assert (module / "results" / "metrics.csv").read_bytes() == METRICS
    assert len(kfp.runs) == 1 and len(kfp.versions) == 1


def _launcher_writes(s3: S3Endpoint, run: RunRecord) -> None:
    put_output(s3, run, {"metrics.csv": METRICS})

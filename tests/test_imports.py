"""Loading, validating and planning never import kfp (it costs about a second per command).

Each check runs in a fresh interpreter, so modules imported by other tests do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "train-test" / "manifests"
MOUNTED = ROOT / "examples" / "train-test-mounted" / "manifests"

PRELUDE = """
import json, sys

def kfp_modules():
    return sorted(
        m for m in sys.modules
        if m in ("kfp", "kfp_server_api") or m.startswith(("kfp.", "kfp_server_api."))
    )
"""

STEPS = {
    "import": """
        import unip_kfp
        import unip_kfp.cli
        assert callable(unip_kfp.load)
    """,
    "load": """
        import unip_kfp
        project = unip_kfp.load(EXAMPLE)
        assert [p.name for p in project.pipelines] == ["my-pipeline"]
        project.pipeline().to_dict()
        unip_kfp.load(MOUNTED, boxes={"global-data-box": "s3://b/p"}, user="u")
    """,
    "cli-validate": """
        from click.testing import CliRunner
        from unip_kfp.cli import main
        result = CliRunner().invoke(main, ["validate", EXAMPLE])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("ok: "), result.output
    """,
    "cli-plan": """
        from click.testing import CliRunner
        from unip_kfp.cli import main
        result = CliRunner().invoke(main, ["plan", EXAMPLE])
        assert result.exit_code == 0, result.output
        assert "stages (in order):" in result.output
        result = CliRunner().invoke(main, ["plan", MOUNTED, "--format", "json"])
        assert result.exit_code == 0, result.output
        json.loads(result.output)
    """,
    "cli-standalone-off": """
        from unip_kfp.cli import main
        main(["validate", EXAMPLE], standalone_mode=False)
        main(["plan", EXAMPLE, "--format", "json"], standalone_mode=False)
    """,
    "cli-invalid": """
        import os, tempfile
        from click.testing import CliRunner
        from unip_kfp.cli import main
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "p.yaml"), "w") as handle:
            handle.write("kind: ExperimentPipline\\n")
        assert CliRunner().invoke(main, ["validate", folder]).exit_code == 3
        assert CliRunner().invoke(main, ["plan", folder]).exit_code == 3
    """,
}


def run_step(body: str) -> list[str]:
    script = (
        PRELUDE
        + f"EXAMPLE = {str(EXAMPLE)!r}\nMOUNTED = {str(MOUNTED)!r}\n"
        + "assert not kfp_modules(), kfp_modules()\n"
        + textwrap.dedent(body)
        + "\nprint(json.dumps(kfp_modules()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("step", list(STEPS))
def test_no_kfp_in_sys_modules(step: str) -> None:
    assert run_step(STEPS[step]) == []


def test_the_check_itself_sees_kfp() -> None:
    """The assertion can fail: importing kfp on purpose is noticed."""
    assert "kfp" in run_step("import kfp\n")


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_python_m_unip_kfp_does_not_import_kfp(command: str) -> None:
    """The real command line (`python -m unip_kfp`), watched with -X importtime."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "unip_kfp", command, str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "unip_kfp.cli" in imported  # the trace is there
    assert [m for m in imported if m == "kfp" or m.startswith("kfp.")] == []

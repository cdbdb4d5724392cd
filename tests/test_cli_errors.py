"""The CLI's last line of defence: a bug of ours is exit 70 (sysexits EX_SOFTWARE) with a
short "internal error ... please report" line, never a traceback and never exit 1, which
means "the run failed". The traceback is shown only with UNIP_KFP_DEBUG=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import unip_kfp.project
from unip_kfp.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train-test" / "manifests"


def _broken(*_args: object, **_kwargs: object) -> None:
    raise ZeroDivisionError("a bug in unip-kfp")


def test_an_unexpected_exception_exits_70_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNIP_KFP_DEBUG", raising=False)
    monkeypatch.setattr(unip_kfp.project.Project, "compile", _broken)
    result = CliRunner().invoke(main, ["compile", str(EXAMPLE), "-o", "/nonexistent-out"])
    assert result.exit_code == 70
    assert "internal error: ZeroDivisionError: a bug in unip-kfp" in result.stderr
    assert "please report" in result.stderr and "Traceback" not in result.stderr


def test_the_traceback_only_with_unip_kfp_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIP_KFP_DEBUG", "1")
    monkeypatch.setattr(unip_kfp.project.Project, "compile", _broken)
    result = CliRunner().invoke(main, ["compile", str(EXAMPLE), "-o", "/nonexistent-out"])
    assert isinstance(result.exception, ZeroDivisionError)

"""A catalogue of invalid manifests: each SPEC §2 rule (and each file error) with its exact report.

Every case starts from the valid pipeline + API below and changes a few lines. The YAML stays
literal so that the expected line numbers can be read off the text (line numbers of BASE_*
are in the comments). Each case lists *every* issue the run must report: file, line, field
path, severity, a piece of the message and (optionally) a piece of the hint; every issue
must carry a hint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.invalid_cases import (
    BASE_API,
    CASES,
    ERROR,
    WARNING,
    A,
    Case,
    Expect,
    P,
    api,
    pipeline,
    write_case,
)

import unip_kfp
from unip_kfp.checks.cross_manifest import check_manifests
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_INVALID, Issue, ManifestError
from unip_kfp.manifests.loader import load_project


def resolve(root: Path, name: str) -> str:
    return str(root) if name == "." else str(root / name)


def shown(issues: list[Issue]) -> str:
    return "\n".join(
        f"{i.file}:{i.line}: {i.severity.value}: {i.field}: {i.message} (hint: {i.hint})"
        for i in issues
    )


def matches(issue: Issue, expect: Expect, root: Path) -> bool:
    return (
        issue.file == resolve(root, expect.file)
        and issue.line == expect.line
        and issue.field == expect.field
        and issue.severity is expect.severity
        and expect.message in issue.message
    )


def assert_reported(issues: list[Issue], expected: tuple[Expect, ...], root: Path) -> None:
    remaining = list(issues)
    for expect in expected:
        found = [i for i in remaining if matches(i, expect, root)]
        assert found, f"expected {expect}\nbut got:\n{shown(issues)}"
        issue = found[0]
        assert issue.hint, f"no hint: {issue}"
        if expect.hint is not None:
            assert expect.hint in issue.hint, issue.hint
        remaining.remove(issue)
    assert not remaining, f"unexpected issues:\n{shown(remaining)}"


def params() -> list:
    return [pytest.param(case, id=case.id, marks=case.marks) for case in CASES]


@pytest.mark.parametrize("case", params())
def test_catalogue(case: Case, tmp_path: Path) -> None:
    paths = write_case(case, tmp_path)
    issues = check_manifests(load_project(paths))
    assert_reported(issues, case.expected, tmp_path)


@pytest.mark.parametrize("case", params())
def test_catalogue_through_load(case: Case, tmp_path: Path) -> None:
    """`unip_kfp.load` raises ManifestError with the same errors (warnings alone plan fine)."""
    paths = write_case(case, tmp_path)
    errors = [e for e in case.expected if e.severity is ERROR]
    if not errors:
        project = unip_kfp.load(paths)
        warnings = [e for e in case.expected if e.severity is WARNING]
        assert_reported(list(project.warnings), tuple(warnings), tmp_path)
        if warnings:
            with pytest.raises(ManifestError):
                unip_kfp.load(paths, strict=True)
        return
    with pytest.raises(ManifestError) as raised:
        unip_kfp.load(paths)
    assert_reported(list(raised.value.issues), case.expected, tmp_path)
    for expect in errors:
        assert expect.message in str(raised.value)


def test_rules_are_all_covered() -> None:
    """At least one case per message of the rules in checks/ (guards against dropped cases)."""
    messages = " ".join(e.message for c in CASES for e in c.expected)
    for piece in (
        "is not a declared var",
        "is not used by any stage",
        "before any earlier stage writes it",
        "stage 's1' reads 'out'",
        "name is empty",
        "written by more than one stage",
        "is not a var of the pipeline",
        "is written by no stage",
        "API input 'm' is written by stage",
        "more than one default box",
        "is not a connected box",
        "is relative",
        "contains '..'",
        "collides with",
        "escapes its box",
        "both become environment variable",
        "is not a valid env var name",
        "reserved prefix",
        "must be a string",
        "cpu '500M'",
        "memory '0.5Gi'",
        "names pipeline",
        "duplicate stage",
        "duplicate var",
        "command is empty",
        "image is empty",
        "apiVersion must be",
        "differs from",
        "is not a valid name",
        "unknown kind",
        "unknown key",
        "required field",
        "must be a list",
        "invalid YAML",
        "empty file",
        "no such file",
        "no manifests found",
        "must be a mapping",
        "duplicate key",
    ):
        assert piece in messages, piece


# --- several problems at once ---------------------------------------------------------------

MANY_PROBLEMS = (
    pipeline(
        ("    - name: out\n  stages:", "    - name: out\n    - name: spare\n  stages:"),  # line 11
        ("        - name: m\n      outputs:", "        - name: mm\n      outputs:"),  # line 32
        ("cpu: 500m", "cpu: 500M"),  # line 26
        ("memory: 256M", "memory: 0.5Gi"),  # line 27
        ("- name: MY_VAR", "- name: UNIP_PIPELINE_X"),  # line 21
    )
    + "    - name: b2\n      default: true\n      mountS3Box:\n        s3BoxName: x\n"  # line 44
)
MANY_EXPECTED = (
    Expect(P, 11, "spec.vars[3].name", "var 'spare' is not used", WARNING),
    Expect(P, 32, "spec.stages[1].inputs[0].name", "'mm' is not a declared var"),
    Expect(P, 26, "spec.stages[0].resourceLimits.cpu", "cpu '500M'"),
    Expect(P, 27, "spec.stages[0].resourceLimits.memory", "memory '0.5Gi'"),
    Expect(P, 21, "spec.stages[0].env[0].name", "reserved prefix"),
    Expect(P, 44, "spec.connectedBoxes[1].default", "more than one default box"),
    Expect(A, 15, "spec.apiSpec.outputs[0].name", "'ghost' is not a var"),
    Expect(A, 4, "metadata.name", "'Api' is not a valid name"),
)


@pytest.fixture
def many(tmp_path: Path) -> Path:
    (tmp_path / P).write_text(MANY_PROBLEMS, encoding="utf-8")
    (tmp_path / A).write_text(
        api(("  name: api\n", "  name: Api\n"), ("      - name: out\n", "      - name: ghost\n")),
        encoding="utf-8",
    )
    return tmp_path


def test_all_problems_reported_at_once(many: Path) -> None:
    issues = check_manifests(load_project([str(many)]))
    assert_reported(issues, MANY_EXPECTED, many)
    with pytest.raises(ManifestError) as raised:
        unip_kfp.load(str(many))
    assert len(raised.value.issues) == len(MANY_EXPECTED)
    assert str(raised.value).startswith("7 error(s) in the manifests")


def test_cli_validate_reports_every_error_on_stderr(many: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(many)])
    assert result.exit_code == EXIT_INVALID
    assert result.stdout == ""
    err = result.stderr
    assert "Traceback" not in err
    for expect in MANY_EXPECTED:
        line = f"{many / expect.file}:{expect.line}: {expect.severity.value}: {expect.field}: "
        matching = [x for x in err.splitlines() if x.startswith(line)]
        assert len(matching) == 1, (line, err)
        assert expect.message in matching[0]
    assert err.count("\n    hint: ") == len(MANY_EXPECTED)
    assert err.rstrip().endswith("7 error(s); the manifests are invalid")


def test_cli_validate_json_gives_the_same_issues(many: Path) -> None:
    text_issues = check_manifests(load_project([str(many)]))
    result = CliRunner().invoke(main, ["validate", str(many), "--format", "json"])
    assert result.exit_code == EXIT_INVALID
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["issues"] == [i.as_dict() for i in text_issues]
    assert {(i["line"], i["field"]) for i in data["issues"]} == {
        (e.line, e.field) for e in MANY_EXPECTED
    }
    for item in data["issues"]:
        assert set(item) == {"severity", "file", "line", "field", "message", "hint"}
        assert item["severity"] in ("error", "warning")


@pytest.fixture
def only_warning(tmp_path: Path) -> Path:
    (tmp_path / P).write_text(
        pipeline(("    - name: out\n  stages:", "    - name: out\n    - name: spare\n  stages:")),
        encoding="utf-8",
    )
    (tmp_path / A).write_text(BASE_API, encoding="utf-8")
    return tmp_path


def test_cli_validate_warning_is_not_a_failure(only_warning: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(only_warning)])
    assert result.exit_code == 0, result.output
    assert f"{only_warning / P}:11: warning: spec.vars[3].name: var 'spare'" in result.stderr
    assert result.stdout == f"ok: {only_warning}\n"


def test_cli_validate_strict_fails_on_warning(only_warning: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "--strict", str(only_warning)])
    assert result.exit_code == EXIT_INVALID
    assert f"{only_warning / P}:11: warning: spec.vars[3].name: var 'spare'" in result.stderr
    assert "1 error(s); the manifests are invalid" in result.stderr
    result = CliRunner().invoke(
        main, ["validate", "--strict", "--format", "json", str(only_warning)]
    )
    assert result.exit_code == EXIT_INVALID
    assert json.loads(result.stdout)["ok"] is False


def test_cli_plan_strict_fails_on_warning(only_warning: Path) -> None:
    assert CliRunner().invoke(main, ["plan", str(only_warning)]).exit_code == 0
    result = CliRunner().invoke(main, ["plan", "--strict", str(only_warning)])
    assert result.exit_code == EXIT_INVALID
    assert ":11: error: spec.vars[3].name: var 'spare' is not used" in result.stderr
    assert "Traceback" not in result.output


def test_cli_validate_missing_path_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == EXIT_INVALID
    assert f"{tmp_path / 'nope.yaml'}: error: no such file or directory" in result.stderr


# --- follow-on errors -------------------------------------------------------------------------


def test_schema_error_in_pipeline_does_not_blame_its_api(tmp_path: Path) -> None:
    (tmp_path / P).write_text(pipeline(('value: "x"', "value: 2")), encoding="utf-8")
    (tmp_path / A).write_text(BASE_API, encoding="utf-8")
    issues = check_manifests(load_project([str(tmp_path)]))
    assert [i.field for i in issues] == ["spec.stages[0].env[0].value"]

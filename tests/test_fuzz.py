"""Fuzzing the front end: no input makes loading, validation or planning fail with anything but
the product's own errors, and every reported issue can be located.

`UNIP_KFP_FUZZ_EXAMPLES` raises the number of examples for a longer local run.
"""

from __future__ import annotations

import copy
import datetime
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import unip_kfp
from unip_kfp.checks import check_project
from unip_kfp.checks.cross_manifest import check_manifests
from unip_kfp.cli import render
from unip_kfp.errors import Issue, ManifestError, Severity, UnipKfpError
from unip_kfp.manifests.loader import load_project

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    ROOT / "examples" / "train-test" / "manifests",
    ROOT / "examples" / "train-test-mounted" / "manifests",
]
EXAMPLES = int(os.environ.get("UNIP_KFP_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Issues about a whole file or path, which have no line to point at.
FILE_LEVEL = (
    "no such file or directory",
    "no manifests found",
    "cannot read file",
    "not UTF-8",
    "no ExperimentPipeline among the manifests",
)


def check_issues(issues: list[Issue], folder: str) -> None:
    for issue in issues:
        assert isinstance(issue.severity, Severity)
        assert issue.file, issue
        assert issue.file.startswith(folder), issue
        assert issue.message, issue
        if not issue.message.startswith(FILE_LEVEL):
            assert isinstance(issue.line, int) and issue.line >= 1, issue
        if issue.severity is Severity.ERROR:
            assert issue.field or issue.message, issue
        issue.format()
        issue.as_dict()


def exercise(folder: str) -> None:
    """Load, validate and plan `folder`; only the product's own errors may come out."""
    issues = check_project(load_project([folder]))
    check_issues(issues, folder)
    errors = [i for i in issues if i.severity is Severity.ERROR]
    try:
        project = unip_kfp.load(folder)
    except ManifestError as exc:
        check_issues(list(exc.issues), folder)
        assert errors, f"validation passed but planning refused: {exc.issues}"
        return
    except UnipKfpError:
        return
    assert not errors, "validation found errors but load() planned anyway"
    check_issues(list(project.warnings), folder)
    for plan in project.pipelines:
        render.plan_text(plan)
    render.plan_json(project.pipelines)


@contextmanager
def one_file_folder(content: str | bytes) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        yield folder


# --- (a) random text and bytes -----------------------------------------------------------------

TOKENS = [
    "apiVersion: unified-platform.cs.hse.ru/v1\n",
    "apiVersion: v1\n",
    "kind: ExperimentPipeline\n",
    "kind: APIComponent\n",
    "kind: DataBox\n",
    "kind: Secret\n",
    "metadata:\n  name: p\n  namespace: ns\n",
    "metadata: {name: p, namespace: ns}\n",
    "spec:\n",
    "  vars:\n",
    "    - name: a\n",
    "  stages:\n",
    "    - name: s\n      image: {existingImageName: img}\n      entryPoint: {cmd: [run]}\n",
    "      inputs: [{name: a}]\n",
    "      outputs: [{name: a}]\n",
    "  experimentPipeline: p\n",
    "  apiSpec: {inputs: [{name: a}], outputs: [{name: a}]}\n",
    "  connectedBoxes: [{name: b, default: true, mountS3Box: {s3BoxName: b}}]\n",
    "  continueWith: x\n",
    "---\n",
    "- ",
    ": ",
    "\n",
    "  ",
    "    ",
    "&a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    '"',
    "? ",
    "|\n",
    ">\n",
    "# c\n",
    "%YAML 1.1\n",
    "!!binary ",
    "!!python/object:os.system ",
    "!custom ",
    "2024-01-01",
    "~",
    "1e3",
    ".inf",
    "0x1F",
    "yes",
    "\t",
    "\ufeff",
    "é",
]


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)),
            max_size=40,
        )
    )
    return "".join(parts)


@FUZZ
@given(yamlish())
@example("apiVersion: unified-platform.cs.hse.ru/v1\nkind: ExperimentPipeline\n")
@example("a: &a [*a]\n")
@example("- [\n")
@example("{a: 1, a: 2}\n")
@example("? [a, b]\n: c\n")
@example("a: 1\nb: \x07\n")
@example("kind: DataBox\nmetadata: 5\n")
def test_random_yamlish_text(text: str) -> None:
    with one_file_folder(text) as folder:
        exercise(folder)


@FUZZ
@given(st.binary(max_size=200))
@example(b"\xff\xfe\x00")
@example(b"\xef\xbb\xbfkind: DataBox\n")
@example(b"a: 1\n\x00")
def test_random_bytes(data: bytes) -> None:
    with one_file_folder(data) as folder:
        exercise(folder)


# Inputs the fuzzers found: each is an issue, not a crash (or a known bug, for a precise reason).

CONTROL_CHARACTERS = [("a: 1\n\x00", 2), ("kind: \x1b[31m\n", 1), ("a: 1\nb: 2\n\x7f: 3\n", 3)]


@pytest.mark.parametrize(("text", "line"), CONTROL_CHARACTERS)
def test_control_character(text: str, line: int, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    issues = check_manifests(load_project([str(tmp_path)]))
    assert [(i.severity, i.message.startswith("invalid YAML")) for i in issues] == [
        (Severity.ERROR, True)
    ]
    assert issues[0].file == str(tmp_path / "m.yaml")
    assert issues[0].hint
    with pytest.raises(ManifestError):
        unip_kfp.load(str(tmp_path))


@pytest.mark.parametrize(("text", "line"), CONTROL_CHARACTERS)
def test_control_character_issue_has_a_line(text: str, line: int, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    (issue,) = check_manifests(load_project([str(tmp_path)]))
    assert issue.line == line, issue
    assert "<unicode string>" not in issue.message, issue


@pytest.mark.parametrize("metadata", ["5", "[p]", "p", "true"])
def test_metadata_not_a_mapping(metadata: str, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        f"apiVersion: unified-platform.cs.hse.ru/v1\nkind: DataBox\nmetadata: {metadata}\n",
        encoding="utf-8",
    )
    issues = check_manifests(load_project([str(tmp_path)]))
    assert [(i.line, i.field) for i in issues if i.severity is Severity.ERROR] == [(3, "metadata")]


CONTINUE_WITH = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata: {{name: p, namespace: ns}}
spec:
  vars: [{{name: a}}]
  stages:
    - name: s
      image: {{existingImageName: img}}
      outputs: [{{name: a}}]
      entryPoint: {{cmd: [run]}}
  continueWith: {value}
"""


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2024-01-01", '"2024-01-01"'),
        ("{at: 2024-01-01}", '{"at": "2024-01-01"}'),
        ("&c [*c]", "[[...]]"),  # a recursive alias
    ],
)
def test_continue_with_any_yaml(value: str, shown: str, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(CONTINUE_WITH.format(value=value), encoding="utf-8")
    project = unip_kfp.load(str(tmp_path))
    assert project.pipelines[0].continue_with == shown
    render.plan_text(project.pipelines[0])
    render.plan_json(project.pipelines)


def test_continue_with_plain_value_is_kept(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        CONTINUE_WITH.format(value="{name: next-pipeline}"), encoding="utf-8"
    )
    project = unip_kfp.load(str(tmp_path))
    assert project.pipelines[0].continue_with == '{"name": "next-pipeline"}'


# --- (b) mutations of the valid seeds --------------------------------------------------------

SEED_DOCS: list[tuple[Path, list[tuple[str, list[Any]]]]] = [
    (
        seed,
        [
            (f.name, list(yaml.safe_load_all(f.read_text(encoding="utf-8"))))
            for f in sorted(seed.glob("*.yaml"))
        ],
    )
    for seed in SEEDS
]

KEYS = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "vars",
    "stages",
    "inputs",
    "outputs",
    "path",
    "mountFrom",
    "box",
    "boxPath",
    "image",
    "existingImageName",
    "env",
    "value",
    "entryPoint",
    "cmd",
    "resourceLimits",
    "cpu",
    "memory",
    "nvidia.com/gpu",
    "connectedBoxes",
    "default",
    "mountS3Box",
    "s3BoxName",
    "experimentPipeline",
    "apiSpec",
    "required",
    "type",
    "datatypes",
    "contentTypes",
    "continueWith",
    "x",
]
NAMES = ["xy_train", "xy_test", "model", "testing_results", "extra_parameters", "data-box"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [*NAMES, "", "/abs", "rel/p", "../up", "500m", "256M", "FILE", "FP32", "str", "dict"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=6,
)


def paths_of(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_of(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths_of(value, (*path, index))


def get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_seed(draw: st.DrawFn) -> tuple[Path, list[tuple[str, list[Any]]]]:
    seed, files = draw(st.sampled_from(SEED_DOCS))
    files = copy.deepcopy(files)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        name, docs = draw(st.sampled_from(files))
        index = draw(st.integers(min_value=0, max_value=len(docs) - 1))
        paths = [p for p in paths_of(docs[index]) if p]
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent, last = get(docs[index], path[:-1]), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "duplicate", "rename", "reref"]))
        refs = [p for p in paths if p[-1] == "name"]
        if action == "reref" and refs:
            # Point a reference elsewhere: exercises the data-flow rules rather than the schema.
            path = draw(st.sampled_from(refs))
            get(docs[index], path[:-1])["name"] = draw(st.sampled_from(NAMES))
        elif action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(values)
        elif action == "duplicate":
            if isinstance(parent, list):
                parent.insert(last, copy.deepcopy(parent[last]))
            else:
                value = get(docs[index], path)
                if isinstance(value, list) and value:
                    value.append(copy.deepcopy(value[draw(st.integers(0, len(value) - 1))]))
        elif action == "rename" and isinstance(parent, dict):
            new = draw(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8)))
            if new not in parent:
                parent[new] = parent.pop(last)
    return seed, files


def write_seed(folder: str, files: list[tuple[str, list[Any]]]) -> None:
    for name, docs in files:
        text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
        Path(folder, name).write_text(text, encoding="utf-8")


@FUZZ
@given(mutated_seed())
def test_mutated_seeds(case: tuple[Path, list[tuple[str, list[Any]]]]) -> None:
    _, files = case
    with tempfile.TemporaryDirectory() as folder:
        write_seed(folder, files)
        exercise(folder)


def test_unmutated_seeds_pass_the_same_checks() -> None:
    """The harness itself: the seeds as dumped by it are valid and plan."""
    for _, files in SEED_DOCS:
        with tempfile.TemporaryDirectory() as folder:
            write_seed(folder, files)
            issues = check_manifests(load_project([folder]))
            assert issues == []
            exercise(folder)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "stages", 0, "resourceLimits", "cpu"), datetime.date(2024, 1, 1)),
        (("spec", "stages", 0, "env", 0, "value"), [1, 2]),
        (("spec", "vars"), {"name": "x"}),
        (("metadata",), None),
        (("spec", "stages", 0, "inputs", 0), "xy_train"),
        (("spec", "connectedBoxes", 0, "mountS3Box"), "mymodule-data-box"),
    ],
)
def test_selected_mutations(path: tuple[Any, ...], value: Any) -> None:
    """A few mutations every run tries: each is reported as an error, not a crash."""
    files = copy.deepcopy(SEED_DOCS[0][1])
    docs = dict(files)["pipeline.yaml"]
    parent = get(docs[0], path[:-1])
    parent[path[-1]] = value
    with tempfile.TemporaryDirectory() as folder:
        write_seed(folder, files)
        issues = check_manifests(load_project([folder]))
        errors = [i for i in issues if i.severity is Severity.ERROR]
        assert errors
        assert any(i.file == str(Path(folder, "pipeline.yaml")) for i in errors)
        check_issues(issues, folder)
        with pytest.raises(ManifestError):
            unip_kfp.load(folder)

"""The local runner's parts: CEL conditions, placeholders, value text, package checks, walking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import compiler
from support import dsl_pipelines
from support.local_runs import Lines, isolate, read

from unip_kfp import s3
from unip_kfp.errors import UsageError
from unip_kfp.local.cel import ConditionError, compile_condition
from unip_kfp.local.data import Artifact
from unip_kfp.local.package_reader import Package
from unip_kfp.local.placeholders import PlaceholderError, TaskPlaceholders, serialize_parameter
from unip_kfp.local.runner import run_local


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


# --- conditions -------------------------------------------------------------------------------


P = "inputs.parameter_values['pipelinechannel--x']"


@pytest.mark.parametrize(
    ("text", "params", "expected"),
    [
        (f"{P} != ''", {"pipelinechannel--x": "s3://b/k"}, True),
        (f"{P} != ''", {"pipelinechannel--x": ""}, False),
        (f"!({P} != '')", {"pipelinechannel--x": ""}, True),
        (f"int({P}) > 3", {"pipelinechannel--x": 4.0}, True),
        (f"!(int({P}) > 3) && {P} == 0.5", {"pipelinechannel--x": 0.5}, True),
        (f"{P} == 'it\\'s' || {P} == \"x\"", {"pipelinechannel--x": "x"}, True),
        (f"{P} == true", {"pipelinechannel--x": True}, True),
        (f"{P} == 1", {"pipelinechannel--x": "1"}, False),  # CEL: no implicit conversion
        (f"{P} == null", {}, True),
        (f"-{P} <= -2.5", {"pipelinechannel--x": 3}, True),
        (f"double({P}) >= 0.25 && string({P}) != ''", {"pipelinechannel--x": "0.25"}, True),
        (f"({P} == 'a' || {P} == 'b') && !({P} == 'b')", {"pipelinechannel--x": "a"}, True),
    ],
)
def test_conditions_dsl_if_compiles_to(
    text: str, params: dict[str, object], expected: bool
) -> None:
    assert compile_condition(text).evaluate(params) is expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch PWNED')",
        f"{P}.size() > 0",
        f"{P} in ['a']",
        f"{P} ? 1 : 2",
        "inputs.artifacts['a'] != ''",
        f"{P} == 'it's'",  # what kfp writes for a quote in a literal: not valid CEL
        f"{P} != ''  &&",
        "",
    ],
)
def test_unsupported_condition_syntax_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConditionError, match="condition"):
        compile_condition(text)
    assert not Path("PWNED").exists()


def test_a_condition_that_does_not_give_true_or_false_is_an_error() -> None:
    with pytest.raises(ConditionError, match="not true/false"):
        compile_condition(P).evaluate({"pipelinechannel--x": "yes"})
    with pytest.raises(ConditionError, match="cannot compare"):
        compile_condition(f"{P} < 3").evaluate({"pipelinechannel--x": "a"})


# --- value text and placeholders --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("as is ' \" $(x)", "as is ' \" $(x)"),
        (3, "3"),
        (3.0, "3"),
        (-7.0, "-7"),
        (0.5, "0.5"),
        (0.001, "0.001"),
        (1e-07, "1e-07"),
        (1234567.5, "1.2345675e+06"),
        (123456.5, "123456.5"),
        (True, "true"),
        (None, ""),
        (
            {"b": 1.0, "a": [0.5, 1e-7, "x<y&z>"], "c": None},
            '{"a":[0.5,1e-7,"x\\u003cy\\u0026z\\u003e"],"b":1,"c":null}',
        ),
        ([1, "two"], '[1,"two"]'),
    ],
)
def test_parameter_values_are_written_as_the_backend_driver_writes_them(
    value: object, text: str
) -> None:
    assert serialize_parameter(value) == text


def _placeholders(**params: object) -> TaskPlaceholders:
    return TaskPlaceholders(
        params,
        {"data": Artifact("s3://b/k", "/in/data")},
        {"out": Artifact("file:///run/out", "/run/out")},
        {"pipeline_task_name": "stage-1"},
    )


def test_placeholders_resolve_inside_strings_and_structures() -> None:
    args = [
        "{{$.inputs.artifacts['data'].path}}",
        "--uri={{$.inputs.artifacts['data'].uri}}",
        "{{$.outputs.artifacts['out'].path}}",
        "{{$.inputs.parameters['n']}}",
        '{"IfPresent": {"InputName": "note", "Then": ["--note", '
        '"{{$.inputs.parameters[\'note\']}}"], "Else": ["--no-note"]}}',
        '{"Concat": ["task=", "{{$.pipeline_task_name}}", {"IfPresent": {"InputName": "n", '
        '"Then": ["/", "{{$.inputs.parameters[\'n\']}}"]}}]}',
        "{{not a placeholder}}",
    ]
    assert _placeholders(n=2.5, note="hi").resolve(args) == [
        "/in/data",
        "--uri=s3://b/k",
        "/run/out",
        "2.5",
        "--note",
        "hi",
        "task=stage-1/2.5",
        "{{not a placeholder}}",
    ]
    # a null or missing optional parameter is not present
    assert _placeholders(n=1, note=None).resolve(args[4:5]) == ["--no-note"]
    assert _placeholders(n=1).resolve(args[4:5]) == ["--no-note"]


def test_if_present_on_an_artifact_never_takes_then_as_on_the_217_backend() -> None:
    item = json.dumps({"IfPresent": {"InputName": "data", "Then": ["yes"], "Else": ["no"]}})
    assert _placeholders().resolve([item]) == ["no"]


@pytest.mark.parametrize(
    "arg",
    [
        "{{$.inputs.parameters['missing']}}",
        "{{$.inputs.artifacts['nope'].path}}",
        "{{$.outputs.parameters['p'].output_file}}",
        "{{$}}",
        "{{$.inputs.artifacts['data'].metadata}}",
    ],
)
def test_unresolvable_placeholders_are_errors(arg: str) -> None:
    with pytest.raises(PlaceholderError):
        _placeholders().resolve([arg])


# --- S3 settings ------------------------------------------------------------------------------


def test_s3_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # One rule for local runs and Kubeflow (unip_kfp.s3): a bare host:port uses TLS unless
    # s3.secure says otherwise (local runs used to take it as plain HTTP).
    for name in (
        "UNIP_KFP_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "AWS_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    assert s3.find_endpoint() is None
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", "https://minio.example:9000")
    monkeypatch.setenv("MINIO_ACCESS_KEY", "a")
    monkeypatch.setenv("MINIO_SECRET_KEY", "b")
    assert s3.find_endpoint() == s3.Endpoint("minio.example:9000", True, None)
    assert s3.credentials() == ("a", "b", None)
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", "localhost:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "c")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "d")
    monkeypatch.setenv("AWS_REGION", "eu")
    assert s3.find_endpoint() == s3.Endpoint("localhost:9000", True, "eu")
    assert s3.credentials() == ("c", "d", None)
    for name in ("AWS_ACCESS_KEY_ID", "MINIO_ACCESS_KEY"):
        monkeypatch.delenv(name)
    with pytest.raises(UsageError, match="credentials"):
        s3.credentials()


def test_s3_object_names_that_leave_the_download_folder_are_refused(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert s3.within(root, "a//b", "s3://b/k") == str(tmp_path / "a" / "b")
    assert s3.within(root, "", "s3://b/k") == root
    for name in ("../x", "a/../../x", "/etc/passwd"):
        with pytest.raises(UsageError, match="leads outside"):
            s3.within(root, name, "s3://b/k")


# --- packages built with the kfp DSL: conditions, OneOf, IfPresent, Concat --------------------


@pytest.fixture(scope="module")
def branches(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("branches") / "branches.yaml"
    compiler.Compiler().compile(dsl_pipelines.branches, str(path))
    return str(path)


@pytest.mark.parametrize(
    ("n", "word", "ran"), [("5", "big", "say"), ("3", "three", "say-2"), ("-1", "small", "say-3")]
)
def test_condition_branches_and_one_of_pick_the_branch_that_ran(
    branches: str, tmp_path: Path, n: str, word: str, ran: str
) -> None:
    result = run_local(branches, inputs={"n": n}, workdir=str(tmp_path), keep=True, echo=Lines())
    assert read(Path(result.outputs["Output"]) / "word") == word
    statuses = {s.name: s.status for s in result.stages}
    assert statuses.pop(ran) == "succeeded"
    assert statuses.pop("args") == "succeeded"
    assert set(statuses.values()) == {"skipped"}


def test_if_present_and_concat_in_a_real_run(branches: str, tmp_path: Path) -> None:
    given = run_local(
        branches, inputs={"n": "1", "note": "a b"}, workdir=str(tmp_path), keep=True, echo=Lines()
    )
    args_dir = Path(given.run_dir) / "artifacts" / "args" / "out"
    assert read(args_dir / "args") == "--note|a b|task=args|"
    omitted = run_local(branches, inputs={"n": "1"}, workdir=str(tmp_path), keep=True, echo=Lines())
    assert read(Path(omitted.run_dir) / "artifacts" / "args" / "out" / "args") == "-|task=args|"


def test_a_package_with_a_loop_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    compiler.Compiler().compile(dsl_pipelines.loop, str(path))
    with pytest.raises(UsageError, match=r"does not support loops \(dsl.ParallelFor\)"):
        run_local(str(path), workdir=str(tmp_path), echo=Lines())
    assert not (tmp_path / ".unip-kfp").exists()


def test_not_a_package_and_wrong_pipeline_name_are_usage_errors(
    branches: str, tmp_path: Path
) -> None:
    path = tmp_path / "component.yaml"
    path.write_text("name: echo\nimplementation: {container: {image: alpine}}\n")
    with pytest.raises(UsageError, match="not a pipeline package"):
        Package(path.read_bytes(), str(path))
    with pytest.raises(UsageError, match="cannot read the package"):
        run_local(str(tmp_path / "missing.yaml"), echo=Lines())
    with pytest.raises(UsageError, match="holds pipeline 'branches', not 'other'"):
        run_local(branches, pipeline="other", inputs={"n": "1"}, echo=Lines())


def test_tasks_are_walked_in_dependency_order_and_a_cycle_is_refused() -> None:
    import yaml

    root = Path(__file__).resolve().parent.parent
    spec = yaml.safe_load((root / "tests" / "golden" / "seed-000" / "my-pipeline.yaml").read_text())
    package = Package(spec, "example.yaml")
    order = package.orders[next(iter(package.orders))]
    assert order.index("stage1") < order.index("stage2")
    spec["root"]["dag"]["tasks"]["stage1"]["dependentTasks"] = ["stage2"]
    with pytest.raises(UsageError, match=r"example.yaml: .*dependency cycle stage\d -> stage\d"):
        Package(spec, "example.yaml")

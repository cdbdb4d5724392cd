"""Where a local run's data comes from: local boxes, box-relative paths, S3, packages alone."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from support.local_runs import (
    EXAMPLES,
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
from support.s3_server import S3Endpoint, create_bucket

import unip_kfp
from unip_kfp.errors import UnreachableError, UsageError
from unip_kfp.launch.prepared import file_parameters, parse_spec
from unip_kfp.local.package_reader import Package
from unip_kfp.local.runner import run_local

BOX_DATA = ".unip-kfp/boxes"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def _use_s3(monkeypatch: pytest.MonkeyPatch, server: S3Endpoint) -> None:
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_REGION", server.region)


def _put(client: object, bucket: str, key: str, text: str) -> None:
    data = text.encode()
    client.put_object(bucket, key, io.BytesIO(data), len(data))  # type: ignore[attr-defined]


def _chain_files(folder: Path) -> None:
    (folder / "folder" / "sub").mkdir(parents=True)
    (folder / "table.csv").write_text("h\n1\n2\n3\n4\n", encoding="utf-8")
    (folder / "folder" / "one.txt").write_text("from the box\n", encoding="utf-8")
    (folder / "folder" / "sub" / "two.dat").write_text("x", encoding="utf-8")


# --- mounted vars and box-relative paths ------------------------------------------------------


def test_mounted_var_from_a_local_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = copy_example(tmp_path)
    dataset = workdir / BOX_DATA / "my-global-data-box/users/developer/file_groups/my_dataset"
    dataset.mkdir(parents=True)
    shutil.copy(workdir / "data" / "xy_train.csv", dataset)
    monkeypatch.chdir(workdir)
    had_data = os.path.lexists("/data")
    project = unip_kfp.load(str(EXAMPLES / "train-test-mounted" / "manifests"))
    echo = Lines()
    result = project.run_local(
        inputs={"xy_test": "./data/xy_test.csv"},
        outputs={"testing_results": "./results"},
        workdir=str(workdir),
        keep=True,
        echo=echo,
    )
    metrics = read(workdir / "results" / "metrics.csv")
    assert float(metrics.splitlines()[1].split(",")[1]) > 0.7  # accuracy
    # the mounted folder reached the stage at its `path: /data`, without touching this
    # machine's /data (namespaces), or re-rooted into the run folder (copies)
    assert "training: 300 rows" in read(result.stages[0].log_path)
    assert os.path.lexists("/data") == had_data
    if not namespaces_available():
        assert read(Path(result.run_dir) / "paths" / "data" / "xy_train.csv") == read(
            dataset / "xy_train.csv")


def test_box_relative_inputs_resolve_under_the_local_box(tmp_path: Path) -> None:
    module = copy_case("chain", tmp_path)
    box = module / BOX_DATA / "chain-box" / "users" / "tester" / "file_groups" / "my"
    _chain_files(box)
    out = tmp_path / "out"
    result = unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": "my/table.csv", "folder": "my/folder"},
        outputs={"result": str(out)},
        echo=Lines(),
    )
    assert read(out / "model.txt") == "rows=5\n"
    assert read(out / "listing") == "./one.txt\n./sub/two.dat\n"
    assert read(out / "notes") == "from the box\n"
    assert not result.kept


def test_a_missing_box_folder_without_s3_is_refused_before_anything_runs(tmp_path: Path) -> None:
    module = copy_case("chain", tmp_path)
    with pytest.raises(UsageError) as caught:
        unip_kfp.load(str(module / "manifests")).run_local(
            inputs={"table": "my/table.csv", "folder": "my/folder"}, echo=Lines()
        )
    message = str(caught.value)
    assert "box 'chain-box'" in message and "does not exist" in message
    assert str(module / BOX_DATA / "chain-box") in message
    assert "UNIP_KFP_S3_ENDPOINT" in message
    assert run_dirs(module) == []


def test_a_missing_file_in_an_existing_box_is_refused(tmp_path: Path) -> None:
    module = copy_case("chain", tmp_path)
    (module / BOX_DATA / "chain-box").mkdir(parents=True)
    with pytest.raises(UsageError, match="no such file or folder .*users/tester/file_groups/nope"):
        unip_kfp.load(str(module / "manifests")).run_local(
            inputs={"table": "nope", "folder": str(module / "src")}, echo=Lines()
        )
    assert run_dirs(module) == []


# --- S3 ---------------------------------------------------------------------------------------


def test_s3_inputs_are_downloaded_into_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint
) -> None:
    client = create_bucket(s3_server, "data")
    _put(client, "data", "in/table.csv", "h\n1\n2\n")
    _put(client, "data", "in/folder/one.txt", "from s3\n")
    _put(client, "data", "in/folder/deep/two.dat", "y")
    _put(client, "data", "in/folder-not-this/three.txt", "no")  # the prefix is "folder/"
    _use_s3(monkeypatch, s3_server)
    module = copy_case("chain", tmp_path)
    out = tmp_path / "out"
    result = unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": "s3://data/in/table.csv", "folder": "minio://data/in/folder"},
        outputs={"result": str(out)},
        keep=True,
        echo=Lines(),
    )
    assert read(out / "model.txt") == "rows=3\n"
    assert read(out / "listing") == "./deep/two.dat\n./one.txt\n"
    assert read(out / "notes") == "from s3\n"
    imports = Path(result.run_dir) / "imports"
    assert sorted(p.name for p in imports.glob("*/*")) == ["folder", "table.csv"]


def test_a_box_without_a_local_folder_is_read_from_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint
) -> None:
    client = create_bucket(s3_server, "mlpipeline")
    base = "unip/local-tests/chain-box/users/tester/file_groups/my"
    _put(client, "mlpipeline", f"{base}/table.csv", "h\n1\n")
    _put(client, "mlpipeline", f"{base}/folder/one.txt", "boxed\n")
    _use_s3(monkeypatch, s3_server)
    module = copy_case("chain", tmp_path)
    out = tmp_path / "out"
    unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": "my/table.csv", "folder": "my/folder"},
        outputs={"result": str(out)},
        echo=Lines(),
    )
    assert read(out / "model.txt") == "rows=2\n"
    assert read(out / "notes") == "boxed\n"


def test_the_s3_endpoint_of_unip_kfp_yaml_serves_local_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: S3Endpoint
) -> None:
    client = create_bucket(s3_server, "data")
    _put(client, "data", "in/table.csv", "h\n1\n")
    _put(client, "data", "in/folder/one.txt", "configured\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_REGION", s3_server.region)
    module = copy_case("chain", tmp_path)
    (module / "unip-kfp.yaml").write_text(f"s3: {{endpoint: {s3_server.url}}}\n")
    out = tmp_path / "out"
    unip_kfp.load(str(module / "manifests")).run_local(
        inputs={"table": "s3://data/in/table.csv", "folder": "s3://data/in/folder"},
        outputs={"result": str(out)},
        echo=Lines(),
    )
    assert read(out / "notes") == "configured\n"


def test_an_unreachable_s3_endpoint_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", "127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("MINIO_ACCESS_KEY", "k")
    monkeypatch.setenv("MINIO_SECRET_KEY", "s")
    module = copy_case("chain", tmp_path)
    (module / "data").mkdir()
    # a bare host:port means TLS, as on Kubeflow (unip_kfp.s3); the message names the URL
    with pytest.raises(UnreachableError, match="cannot reach S3 at https://127.0.0.1:9"):
        unip_kfp.load(str(module / "manifests")).run_local(
            inputs={"table": "s3://bucket/t.csv", "folder": str(module / "data")}, echo=Lines()
        )
    [run] = run_dirs(module)  # the import is part of the run: its folder stays
    assert not (run / "artifacts" / "prepare").exists()


def test_an_omitted_optional_file_never_resolves_the_sentinel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 is "configured" but unreachable: resolving the sentinel URI would fail the run
    monkeypatch.setenv("UNIP_KFP_S3_ENDPOINT", "127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    pipeline = manifest(
        "ExperimentPipeline",
        "optional",
        {
            "vars": [{"name": "maybe"}, {"name": "out"}],
            "stages": [stage("look", ["sh", "src/look.sh"], ["maybe"], ["out"])],
        },
    )
    api = manifest(
        "APIComponent",
        "optional-api",
        {
            "experimentPipeline": {"name": "optional"},
            "apiSpec": {
                "inputs": [{"name": "maybe", "required": False}],
                "outputs": [{"name": "out"}],
            },
        },
    )
    script = (
        'if [ "${UNIP_PIPELINE_MAYBE+set}" = set ]; then cat "$UNIP_PIPELINE_MAYBE"; '
        'else printf unset; fi > "$UNIP_PIPELINE_OUT/seen"\n'
    )
    manifests = write_module(tmp_path / "module", pipeline, {"look.sh": script}, api)
    project = unip_kfp.load(str(manifests))
    absent = project.run_local(keep=True, echo=Lines())
    assert read(Path(absent.outputs["out"]) / "seen") == "unset"
    given = tmp_path / "given.txt"
    given.write_text("here", encoding="utf-8")
    present = project.run_local(inputs={"maybe": str(given)}, keep=True, echo=Lines())
    assert read(Path(present.outputs["out"]) / "seen") == "here"


# --- a package file without its manifests -----------------------------------------------------


def test_a_package_file_runs_alone_with_structurally_found_file_inputs(tmp_path: Path) -> None:
    module = copy_case("chain", tmp_path)
    [compiled] = unip_kfp.load(str(module / "manifests")).compile(str(tmp_path / "chain.yaml"))
    assert compiled.path is not None
    assert file_parameters(parse_spec(compiled.content, compiled.path)) == {"table", "folder"}
    box = module / BOX_DATA / "chain-box"
    _chain_files(module / "data")
    out = tmp_path / "out"
    result = run_local(
        compiled.path,
        inputs={
            "table": str(module / "data" / "table.csv"),
            "folder": str(module / "data" / "folder"),
        },
        outputs={"result": str(out)},
        workdir=str(module),
        echo=Lines(),
    )
    assert read(out / "model.txt") == "rows=5\n"
    assert result.pipeline == "chain" and not box.exists()
    # runargs' rule, as on Kubeflow: a package file knows no default box
    with pytest.raises(UsageError, match="is a box path, but pipeline 'chain' has no default box"):
        run_local(
            compiled.path,
            inputs={"table": "my/table.csv", "folder": "./x"},
            workdir=str(module),
            echo=Lines(),
        )


def test_a_package_file_maps_mounted_uris_by_the_default_box_convention(tmp_path: Path) -> None:
    pipeline = manifest(
        "ExperimentPipeline",
        "mounted",
        {
            "vars": [
                {
                    "name": "shared",
                    "path": "/shared",
                    "mountFrom": {"box": {"name": "lib", "boxPath": "sets/one"}},
                },
                {"name": "out"},
            ],
            "stages": [stage("read", ["sh", "src/read.sh"], ["shared"], ["out"])],
            "connectedBoxes": [
                {
                    "name": "lib",
                    "path": "/lib",
                    "default": True,
                    "mountS3Box": {"s3BoxName": "library-box"},
                }
            ],
        },
    )
    script = 'cat "$UNIP_PIPELINE_SHARED/a.txt" > "$UNIP_PIPELINE_OUT/copy"\n'
    manifests = write_module(tmp_path / "module", pipeline, {"read.sh": script})
    [compiled] = unip_kfp.load(str(manifests)).compile(str(tmp_path / "mounted.yaml"))
    assert b"minio://mlpipeline/unip/local-tests/library-box/sets/one" in compiled.content
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    with pytest.raises(UsageError, match="box 'library-box'"):
        run_local(str(compiled.path), workdir=str(workdir), echo=Lines())
    (workdir / "src").mkdir()
    shutil.copy(tmp_path / "module" / "src" / "read.sh", workdir / "src")
    shared = workdir / BOX_DATA / "library-box" / "sets" / "one"
    shared.mkdir(parents=True)
    (shared / "a.txt").write_text("mounted data", encoding="utf-8")
    result = run_local(str(compiled.path), workdir=str(workdir), keep=True, echo=Lines())
    assert read(Path(result.outputs["out"]) / "copy") == "mounted data"


def test_the_example_package_declares_its_file_inputs_structurally() -> None:
    example = EXAMPLES / "train-test" / "manifests"
    [compiled] = unip_kfp.load(str(example)).compile()
    package = Package(compiled.content, "example")
    assert file_parameters(parse_spec(compiled.content, "example")) == {
        "xy_train", "xy_test", "extra_parameters"
    }
    assert [s.name for s in package.stages()] == ["stage1", "stage2"]

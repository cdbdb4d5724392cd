"""`Project.run` and `unip_kfp.run` decide local or Kubeflow, as `unip-kfp run` always did.

Kubeflow: `host`, a `client`, `from_version`, `KF_PIPELINES_ENDPOINT` or `kubeflow.host` of
`unip-kfp.yaml`, unless `local=True`; otherwise this machine. The Kubeflow side talks to the
KFP API test server through the real `kfp.Client`; the local side runs a one-stage module.
"""

from __future__ import annotations

from pathlib import Path

import kfp as kfp_sdk
import pytest
from support.kubeflow_env import HookedKfpServer
from support.local_runs import Lines, isolate, manifest, read, stage, write_module

import unip_kfp

pytestmark = pytest.mark.filterwarnings("ignore:This client only works:FutureWarning")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)
    monkeypatch.setenv("UNIP_KFP_POLL_INTERVAL", "0.02")


@pytest.fixture(name="manifests")
def manifests_fixture(tmp_path: Path) -> Path:
    """A one-stage module: stage `hello` writes `greeting` into its output `out`."""
    pipeline = manifest("ExperimentPipeline", "hello", {
        "vars": [{"name": "out"}],
        "stages": [stage("hello", ["sh", "src/hello.sh"], [], ["out"])],
    })
    script = 'echo hi > "$UNIP_PIPELINE_OUT/greeting"\n'
    return write_module(tmp_path / "module", pipeline, {"hello.sh": script})


def configured(manifests: Path, host: str) -> None:
    (manifests.parent / "unip-kfp.yaml").write_text(f"kubeflow:\n  host: {host}\n")


# --- the rule, without running anything ----------------------------------------------------


def test_the_rule_names_kubeflow_only_when_something_points_there(
    manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = unip_kfp.load(str(manifests))
    assert not unip_kfp.on_kubeflow(project)
    assert unip_kfp.on_kubeflow(project, host="http://kfp")
    assert unip_kfp.on_kubeflow(project, from_version="v1")
    assert not unip_kfp.on_kubeflow(project, host="http://kfp", local=True)
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", "http://kfp")
    assert unip_kfp.on_kubeflow(project)
    assert not unip_kfp.on_kubeflow(project, local=True)
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT")
    configured(manifests, "http://kfp")
    assert unip_kfp.on_kubeflow(unip_kfp.load(str(manifests)))


def test_a_package_file_takes_the_config_beside_it_or_the_one_given(
    manifests: Path, tmp_path: Path
) -> None:
    (package,) = unip_kfp.load(str(manifests)).compile(str(tmp_path / "hello.yaml"))
    assert package.path is not None
    assert not unip_kfp.on_kubeflow(package.path)
    assert not unip_kfp.on_kubeflow(package)
    config = tmp_path / "other.yaml"
    config.write_text("kubeflow:\n  host: http://kfp\n")
    assert unip_kfp.on_kubeflow(package.path, config=str(config))
    assert unip_kfp.on_kubeflow(package, config=str(config))
    (tmp_path / "unip-kfp.yaml").write_text("kubeflow:\n  host: http://kfp\n")
    assert unip_kfp.on_kubeflow(Path(package.path))


# --- here --------------------------------------------------------------------------------


def test_without_kubeflow_it_runs_here(manifests: Path, tmp_path: Path) -> None:
    result = unip_kfp.load(str(manifests)).run(outputs={"out": tmp_path / "got"}, echo=Lines())
    assert isinstance(result, unip_kfp.LocalRunResult) and result.succeeded
    assert read(tmp_path / "got" / "greeting") == "hi\n"


def test_local_wins_over_a_configured_host(manifests: Path) -> None:
    configured(manifests, "http://127.0.0.1:9")  # nothing listens: Kubeflow would fail
    result = unip_kfp.load(str(manifests)).run(local=True, echo=Lines())
    assert isinstance(result, unip_kfp.LocalRunResult)


def test_kubeflow_only_options_are_refused_here(manifests: Path) -> None:
    project = unip_kfp.load(str(manifests))
    with pytest.raises(unip_kfp.UsageError, match="--from-version and --upload run on Kub"):
        project.run(upload=True, echo=Lines())
    with pytest.raises(unip_kfp.UsageError, match="--from-version and --upload run on Kub"):
        project.run(local=True, from_version="v1", echo=Lines())


def test_a_package_file_runs_here_too(manifests: Path, tmp_path: Path) -> None:
    (package,) = unip_kfp.load(str(manifests)).compile(str(tmp_path / "hello.yaml"))
    result = unip_kfp.run(tmp_path / "hello.yaml", workdir=str(manifests.parent),
                          echo=Lines())
    assert isinstance(result, unip_kfp.LocalRunResult) and result.pipeline == "hello"
    from_bytes = unip_kfp.run(package, workdir=str(manifests.parent), echo=Lines())
    assert isinstance(from_bytes, unip_kfp.LocalRunResult)


# --- on Kubeflow -------------------------------------------------------------------------


def test_a_host_sends_it_to_kubeflow_and_waits(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path
) -> None:
    events: list[str] = []
    handle = unip_kfp.load(str(manifests)).run(
        host=kfp.url, on_submitted=lambda h: events.append(f"submitted {h.run_id}"),
        echo=events.append)
    assert isinstance(handle, unip_kfp.RunHandle) and handle.state == "SUCCEEDED"
    assert handle.run_id in kfp.runs
    submitted = events.index(f"submitted {handle.run_id}")
    assert any("hello: SUCCEEDED" in e for e in events[submitted:])  # waited after the hook


def test_no_wait_returns_once_submitted(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path
) -> None:
    handle = unip_kfp.load(str(manifests)).run(host=kfp.url, wait=False, echo=Lines())
    assert isinstance(handle, unip_kfp.RunHandle) and handle.state is None


def test_the_environment_or_the_config_sends_it_to_kubeflow(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp.url)
    first = unip_kfp.load(str(manifests)).run(wait=False, echo=Lines())
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT")
    configured(manifests, kfp.url)
    second = unip_kfp.load(str(manifests)).run(wait=False, echo=Lines())
    assert isinstance(first, unip_kfp.RunHandle) and isinstance(second, unip_kfp.RunHandle)
    assert set(kfp.runs) == {first.run_id, second.run_id}


def test_a_client_sends_it_to_kubeflow(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path, tmp_path: Path
) -> None:
    unip_kfp.load(str(manifests)).compile(str(tmp_path / "hello.yaml"))
    handle = unip_kfp.run(str(tmp_path / "hello.yaml"), client=kfp_sdk.Client(host=kfp.url),
                          wait=False, echo=Lines())
    assert isinstance(handle, unip_kfp.RunHandle) and handle.plan.name == "hello"


def test_reuse_and_full_output_folders_are_refused_before_submitting(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path, tmp_path: Path
) -> None:
    project = unip_kfp.load(str(manifests))
    with pytest.raises(unip_kfp.UsageError, match="--reuse reuses this machine's"):
        project.run(host=kfp.url, reuse=True, echo=Lines())
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(unip_kfp.UsageError, match="folder is not empty"):
        project.run(host=kfp.url, outputs={"out": full}, echo=Lines())
    assert kfp.runs == {}


def test_upload_makes_a_version_once(
    kfp: HookedKfpServer, kfp_home: Path, manifests: Path
) -> None:
    project = unip_kfp.load(str(manifests))
    client = kfp_sdk.Client(host=kfp.url)
    first = project.upload(client, echo=Lines())
    again = project.upload(host=kfp.url, echo=Lines())
    assert isinstance(first, unip_kfp.Upload) and first.created
    assert again == unip_kfp.Upload(first.pipeline_id, first.version_id, False)

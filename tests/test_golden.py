"""Golden pipeline packages: every compile case against its committed YAML in tests/golden/.

Each case is a manifest folder (the examples, or tests/compile_cases/) plus compile options;
its packages live in ``tests/golden/<case>/<pipeline>.yaml`` and are compared through the one
golden helper (``support/goldens.py``), which normalises ``sdkVersion``. A fixed ``user`` keeps
the plans stable whoever runs the tests. Run as a script (``python tests/test_golden.py``) it
prints the sha256 of every package as JSON: the determinism test runs it in fresh
interpreters with other hash seeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.goldens import (
    CASES,
    GOLDEN_DIR,
    REGENERATE_ENV,
    ROOT,
    SDK_VERSION_NORMALISED,
    all_packages,
    check_golden,
    compile_case,
    compiled,
    documents,
    normalise,
)


@pytest.mark.parametrize("case_id", list(CASES))
def test_package_matches_golden(case_id: str) -> None:
    check_golden(case_id, compiled(case_id), GOLDEN_DIR / case_id)


def test_every_golden_folder_belongs_to_a_case() -> None:
    folders = {p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()}
    assert folders <= set(CASES), f"stale golden folders: {sorted(folders - set(CASES))}"


def test_golden_cases_cover_what_they_claim() -> None:
    """The multi case really holds two pipelines, the others one each."""
    assert sorted(compiled("multi")) == ["alpha", "beta"]
    for case_id in CASES:
        if case_id != "multi":
            assert len(compiled(case_id)) == 1, case_id


def test_golden_differs_from_compiled_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The comparison itself bites: a changed golden file fails with a diff."""
    monkeypatch.delenv(REGENERATE_ENV, raising=False)
    name, content = next(iter(compiled("seed-000").items()))
    (tmp_path / f"{name}.yaml").write_bytes(normalise(content).replace(b"stage2", b"stageX"))
    with pytest.raises(pytest.fail.Exception, match=r"differs from its golden file"):
        check_golden("seed-000", {name: content}, tmp_path)


def test_regeneration_is_refused_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(REGENERATE_ENV, "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="never regenerated in CI"):
        check_golden("seed-000", compiled("seed-000"), tmp_path)
    assert not any(tmp_path.iterdir()), "nothing may be written when refusing"


def test_regeneration_writes_normalised_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REGENERATE_ENV, "1")
    monkeypatch.delenv("CI", raising=False)
    (tmp_path / "gone.yaml").write_text("stale")
    check_golden("multi", compiled("multi"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.yaml", "beta.yaml"]
    text = (tmp_path / "alpha.yaml").read_bytes()
    assert SDK_VERSION_NORMALISED in text and b"sdkVersion: kfp-" not in text


def test_regeneration_can_keep_the_real_sdk_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Shipped components are regenerated as produced (users load them), yet compare equal
    to output of another kfp patch release."""
    monkeypatch.setenv(REGENERATE_ENV, "1")
    monkeypatch.delenv("CI", raising=False)
    content = compiled("seed-000")["my-pipeline"]
    check_golden("seed-000", {"my-pipeline": content}, tmp_path, store_normalised=False)
    assert (tmp_path / "my-pipeline.yaml").read_bytes() == content
    monkeypatch.delenv(REGENERATE_ENV)
    other_patch = content.replace(b"sdkVersion: kfp-2.17.", b"sdkVersion: kfp-2.17.99")
    check_golden("seed-000", {"my-pipeline": other_patch}, tmp_path)


def test_normalise_touches_only_sdk_version() -> None:
    content = compiled("seed-000")["my-pipeline"]
    assert b"sdkVersion: kfp-" in content
    normalised = normalise(content)
    assert normalised.count(b"\n") == content.count(b"\n")
    changed = [
        (a, b) for a, b in zip(content.splitlines(), normalised.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and changed[0][0].startswith(b"sdkVersion: kfp-")


# --- every package: loads back, parses strictly, compiles to the same bytes every time


@pytest.mark.parametrize(("case_id", "pipeline"), all_packages())
def test_package_loads_back_with_kfp(case_id: str, pipeline: str, tmp_path: Path) -> None:
    from kfp import components

    path = tmp_path / f"{pipeline}.yaml"
    path.write_bytes(compiled(case_id)[pipeline])
    component = components.load_component_from_file(str(path))
    spec, _ = documents(compiled(case_id)[pipeline])
    assert component.name == pipeline
    assert set(component.component_spec.inputs or {}) == set(
        spec["root"].get("inputDefinitions", {}).get("parameters", {})
    )
    assert set(component.component_spec.outputs or {}) == set(
        spec["root"].get("outputDefinitions", {}).get("artifacts", {})
    )


@pytest.mark.parametrize(("case_id", "pipeline"), all_packages())
def test_package_parses_strictly_as_pipeline_spec(case_id: str, pipeline: str) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec, platform = documents(compiled(case_id)[pipeline])
    parsed = json_format.ParseDict(
        spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
    )
    assert parsed.pipeline_info.name == pipeline
    assert set(parsed.root.dag.tasks) == set(spec["root"]["dag"]["tasks"])
    if platform is not None:
        parsed_platform = json_format.ParseDict(
            platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False
        )
        assert "kubernetes" in parsed_platform.platforms


@pytest.mark.parametrize("case_id", list(CASES))
def test_compiling_twice_gives_identical_bytes(case_id: str) -> None:
    assert compile_case(case_id) == compiled(case_id)


def _digests(packages: dict[str, dict[str, bytes]]) -> dict[str, dict[str, str]]:
    return {
        case_id: {name: hashlib.sha256(content).hexdigest() for name, content in found.items()}
        for case_id, found in packages.items()
    }


def test_fresh_interpreters_with_other_hash_seeds_give_identical_bytes() -> None:
    """Set/dict order, id()-based names or hash seeds must not leak into a package."""
    here = _digests({case_id: compiled(case_id) for case_id in CASES})
    runs = [
        subprocess.Popen(
            [sys.executable, __file__],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=str(ROOT),
        )
        for seed in ("0", "3141592")
    ]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
        assert json.loads(out) == here


if __name__ == "__main__":
    print(json.dumps(_digests({case_id: compile_case(case_id) for case_id in CASES})))

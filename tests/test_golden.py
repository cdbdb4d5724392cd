"""Golden pipeline packages: every compile case against its committed YAML in tests/golden/.

Each case is a manifest folder (the examples, or tests/compile_cases/) plus compile options;
its packages live in ``tests/golden/<case>/<pipeline>.yaml``. They are compared as text
after normalising ``sdkVersion`` (the only line that changes with a kfp patch release). A
fixed ``user`` keeps the plans stable whoever runs the tests.

Regenerate with ``UNIP_KFP_REGENERATE_GOLDEN=1`` (``make golden``), then read the diff
before committing it. Regeneration is refused when ``CI`` is set: CI compares, never writes.

This module also owns the case table and a cached ``compiled(case)``, which the other
compile tests import, so each case is compiled once per session. Run as a script
(``python tests/test_golden.py``) it prints the sha256 of every package as JSON: the
determinism test runs it in fresh interpreters with other hash seeds.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "tests" / "compile_cases"
GOLDEN_DIR = ROOT / "tests" / "golden"
EXAMPLES = ROOT / "examples"
USER = "golden-user"
REGENERATE_ENV = "UNIP_KFP_REGENERATE_GOLDEN"
SDK_VERSION = re.compile(rb"^sdkVersion: .*$", re.MULTILINE)
SDK_VERSION_NORMALISED = b"sdkVersion: <normalised>"


@dataclass(frozen=True)
class Case:
    """A manifest folder and the compile options of one golden case."""

    path: Path
    options: dict[str, bool] = field(default_factory=dict)
    boxes: tuple[tuple[str, str], ...] = ()


CASES: dict[str, Case] = {
    # seed 000: the platform documentation's pipeline (optional file input, env, resources)
    "seed-000": Case(EXAMPLES / "train-test" / "manifests"),
    # seed 001: xy_train mounted from a second box (constant-URI importer)
    "seed-001-mounted": Case(EXAMPLES / "train-test-mounted" / "manifests"),
    # optional file input (shared by two stages) and optional str/INT32 values
    "optional": Case(CASES_DIR / "optional"),
    # FP32, FP64, INT32, dict, str, [FP32, INT32] and [FILE, str]
    "values": Case(CASES_DIR / "values"),
    # path: targets on vars and on stage entries (input, value, output)
    "paths": Case(CASES_DIR / "paths"),
    # two pipelines in one folder (one with an APIComponent, one without)
    "multi": Case(CASES_DIR / "multi"),
    # unip-kfp.yaml: box URIs, imagePullSecrets and box Secrets (platform spec)
    "platform": Case(CASES_DIR / "platform"),
    # mounted vars that are also API inputs (mount URI = parameter default)
    "mounted-input": Case(CASES_DIR / "mounted-input"),
    # two independent branches and a join; cpu/memory/accelerator; env
    "fanout": Case(CASES_DIR / "fanout"),
    "fanout-parallel": Case(CASES_DIR / "fanout", {"parallel": True}),
    "seed-000-parallel": Case(EXAMPLES / "train-test" / "manifests", {"parallel": True}),
    "seed-000-cache": Case(EXAMPLES / "train-test" / "manifests", {"cache": True}),
    # --box overrides the default box URI
    "seed-001-box": Case(
        EXAMPLES / "train-test-mounted" / "manifests",
        boxes=(("my-global-data-box", "s3://override-bucket/global/"),),
    ),
}


def compile_case(case_id: str) -> dict[str, bytes]:
    """Compile one case afresh: {pipeline name: package bytes}."""
    import unip_kfp

    case = CASES[case_id]
    project = unip_kfp.load(str(case.path), boxes=dict(case.boxes), user=USER)
    return {p.pipeline: p.content for p in project.compile(**case.options)}


@functools.cache
def compiled(case_id: str) -> dict[str, bytes]:
    """`compile_case`, once per test session (the other compile tests share it)."""
    return compile_case(case_id)


def documents(content: bytes) -> tuple[dict, dict | None]:
    """The pipeline spec and the platform spec (None when the package has only one)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in yaml.load_all(content, Loader=loader) if d is not None]
    assert 1 <= len(docs) <= 2, f"expected 1 or 2 YAML documents, got {len(docs)}"
    return docs[0], (docs[1] if len(docs) == 2 else None)


def pipelines_of(case_id: str) -> list[str]:
    """The pipeline names of a case, for parametrising at collection time. A case that does
    not compile yields one placeholder name, so its tests fail with the compile error
    instead of the whole module failing to collect."""
    try:
        return list(compiled(case_id))
    except Exception:  # reported by every test that calls compiled(case_id)
        return ["<does-not-compile>"]


def all_packages() -> list[tuple[str, str]]:
    """(case, pipeline) for every package of every case, for parametrising."""
    return [(case_id, name) for case_id in CASES for name in pipelines_of(case_id)]


def normalise(content: bytes) -> bytes:
    return SDK_VERSION.sub(SDK_VERSION_NORMALISED, content)


def regenerating() -> bool:
    """True when asked to rewrite the golden files; refused loudly under CI."""
    if not os.environ.get(REGENERATE_ENV):
        return False
    if os.environ.get("CI"):
        pytest.fail(
            f"{REGENERATE_ENV} is set while CI is set: golden files are never regenerated "
            "in CI. Regenerate locally (make golden), review the diff, commit it."
        )
    return True


def check_golden(case_id: str, packages: dict[str, bytes], folder: Path) -> None:
    """Compare (or, when regenerating, rewrite) the golden files of one case."""
    if regenerating():
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            if stale.stem not in packages:
                stale.unlink()
        for name, content in packages.items():
            (folder / f"{name}.yaml").write_bytes(normalise(content))
    if not folder.is_dir():
        pytest.fail(f"no golden files for case '{case_id}' in {folder}: run `make golden`")
    expected_names = sorted(p.stem for p in folder.glob("*.yaml"))
    assert sorted(packages) == expected_names, (
        f"case '{case_id}': pipelines {sorted(packages)} but golden files {expected_names}"
    )
    for name, content in packages.items():
        golden = (folder / f"{name}.yaml").read_bytes()
        actual = normalise(content)
        if actual != golden:
            diff = "".join(
                list(
                    difflib.unified_diff(
                        golden.decode().splitlines(keepends=True),
                        actual.decode().splitlines(keepends=True),
                        f"golden/{case_id}/{name}.yaml",
                        "compiled",
                    )
                )[:80]
            )
            pytest.fail(
                f"case '{case_id}', pipeline '{name}' differs from its golden package "
                f"(if intended: make golden, and review):\n{diff}"
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
    with pytest.raises(pytest.fail.Exception, match=r"differs from its golden package"):
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

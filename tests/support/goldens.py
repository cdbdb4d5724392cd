"""The one golden-file helper: every comparison of compiled output with committed files.

Golden files are compared as text after normalising ``sdkVersion``, the only line that
changes with a kfp patch release (kfp 2.17.0 and 2.17.3 compile the same IR otherwise), so a
new patch release of kfp never turns the suite red. Two kinds of golden files use it:

- the compile cases' packages in ``tests/golden/<case>/<pipeline>.yaml``, stored normalised;
- the shipped reusable components in ``components/<pipeline>/<stage>.yaml``, which keep the
  real ``sdkVersion`` (users load them), and are compared normalised.

Regenerate both with ``UNIP_KFP_REGENERATE_GOLDEN=1`` (``make golden``), then read the diff
before committing it. Regeneration is refused when ``CI`` is set: CI compares, never writes.

This module also owns the compile-case table and a cached ``compiled(case)``, so each case
is compiled once per session by whichever test needs it first. Collection never compiles:
``all_packages()`` parametrises from the golden file names.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "compile_cases"
GOLDEN_DIR = ROOT / "tests" / "golden"
COMPONENTS_DIR = ROOT / "components"
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
    """`compile_case`, once per test session (the compile tests share it)."""
    return compile_case(case_id)


def documents(content: bytes) -> tuple[dict, dict | None]:
    """The pipeline spec and the platform spec (None when the package has only one)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in yaml.load_all(content, Loader=loader) if d is not None]
    assert 1 <= len(docs) <= 2, f"expected 1 or 2 YAML documents, got {len(docs)}"
    return docs[0], (docs[1] if len(docs) == 2 else None)


def pipelines_of(case_id: str) -> list[str]:
    """The pipeline names of a case, from its golden file names: parametrising costs no
    compile at collection time. A pipeline that appears or vanishes is caught by the golden
    comparison, which checks the compiled names against these files."""
    folder = GOLDEN_DIR / case_id
    return sorted(p.stem for p in folder.glob("*.yaml")) or ["<no-golden-files>"]


def all_packages() -> list[tuple[str, str]]:
    """(case, pipeline) for every package of every case, for parametrising."""
    return [(case_id, name) for case_id in CASES for name in pipelines_of(case_id)]


def normalise(content: bytes) -> bytes:
    """The text a golden comparison sees: ``sdkVersion`` replaced, nothing else."""
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


def check_golden(
    label: str, files: dict[str, bytes], folder: Path, *, store_normalised: bool = True
) -> None:
    """Compare (or, when regenerating, rewrite) a folder of golden ``<name>.yaml`` files.

    ``files`` maps each name to the bytes produced now. Both sides are normalised before
    comparing. ``store_normalised`` says how regeneration writes them: normalised for test
    goldens, as produced for files that users load (the shipped components).
    """
    if regenerating():
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            if stale.stem not in files:
                stale.unlink()
        for name, content in files.items():
            (folder / f"{name}.yaml").write_bytes(
                normalise(content) if store_normalised else content
            )
    if not folder.is_dir():
        pytest.fail(f"no golden files for '{label}' in {folder}: run `make golden`")
    expected_names = sorted(p.stem for p in folder.glob("*.yaml"))
    assert sorted(files) == expected_names, (
        f"'{label}': produced {sorted(files)} but golden files {expected_names} "
        "(if intended: make golden, and review)"
    )
    for name, content in files.items():
        golden = normalise((folder / f"{name}.yaml").read_bytes())
        actual = normalise(content)
        if actual != golden:
            diff = "".join(
                list(
                    difflib.unified_diff(
                        golden.decode().splitlines(keepends=True),
                        actual.decode().splitlines(keepends=True),
                        f"{folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}"
                        f"/{name}.yaml",
                        "produced now",
                    )
                )[:80]
            )
            pytest.fail(
                f"'{label}', '{name}' differs from its golden file "
                f"(if intended: make golden, and review):\n{diff}"
            )

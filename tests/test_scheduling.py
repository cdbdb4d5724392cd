"""Node selectors and tolerations from unip-kfp.yaml reach the package's platform spec."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import unip_kfp
from unip_kfp.errors import ManifestError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train-test" / "manifests"

CONFIG = """\
nodeSelector:
  pool: cpu
tolerations:
  - {key: dedicated, operator: Equal, value: ml, effect: NoSchedule}
stages:
  stage1:
    nodeSelector: {pool: gpu, zone: a}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule, tolerationSeconds: 60}
"""


def module(tmp_path: Path, config: str | None) -> Path:
    target = tmp_path / "manifests"
    shutil.copytree(EXAMPLE, target)
    if config is not None:
        (target / "unip-kfp.yaml").write_text(config)
    return target


def executors(content: bytes) -> dict[str, dict]:
    documents = list(yaml.safe_load_all(content))
    assert len(documents) == 2, "a platform spec document is expected"
    return documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_global_and_per_stage_scheduling(tmp_path: Path) -> None:
    project = unip_kfp.load(str(module(tmp_path, CONFIG)), user="u")
    (package,) = project.compile()
    found = executors(package.content)
    # stage1: its own selector wins key by key; tolerations add to the global ones.
    assert found["exec-stage1"]["nodeSelector"] == {"labels": {"pool": "gpu", "zone": "a"}}
    assert found["exec-stage1"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule",
         "tolerationSeconds": "60"},
    ]
    assert found["exec-stage2"]["nodeSelector"] == {"labels": {"pool": "cpu"}}
    assert found["exec-stage2"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
    ]
    stage = project.pipeline().stages[0]
    assert stage.node_selector == (("pool", "gpu"), ("zone", "a"))


def test_no_scheduling_no_platform_spec(tmp_path: Path) -> None:
    (package,) = unip_kfp.load(str(module(tmp_path, None)), user="u").compile()
    assert len(list(yaml.safe_load_all(package.content))) == 1


def test_unknown_stage_in_config_is_reported_with_its_line(tmp_path: Path) -> None:
    folder = module(tmp_path, "stages:\n  stage-1:\n    nodeSelector: {pool: gpu}\n")
    with pytest.raises(ManifestError) as raised:
        unip_kfp.load(str(folder))
    (issue,) = raised.value.issues
    assert issue.file == str(folder / "unip-kfp.yaml")
    assert issue.line == 2 and issue.field == "stages.stage-1"
    assert "no stage named 'stage-1'" in issue.message
    assert issue.hint == "did you mean 'stage1'?"


def test_bad_toleration_operator_is_a_config_error(tmp_path: Path) -> None:
    folder = module(tmp_path, "tolerations:\n  - {key: a, operator: Maybe}\n")
    with pytest.raises(ManifestError) as raised:
        unip_kfp.load(str(folder))
    (issue,) = raised.value.issues
    assert issue.line == 2 and issue.field == "tolerations[0].operator"

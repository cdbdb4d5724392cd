"""`unip-kfp components`: one reusable component YAML per stage, loadable and composable.

The committed `components/my-pipeline/*.yaml` must be exactly what the command writes now;
each component loads back with `kfp.components.load_component_from_file` and composes into a
hand-written `@dsl.pipeline` (importer -> stage1 -> stage2) that compiles to a valid spec.
"""

# No `from __future__ import annotations`: kfp reads the hand-written pipeline's
# annotations at run time and takes the string "str" for an artifact type.
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from support.goldens import CASES_DIR, COMPONENTS_DIR, EXAMPLES, check_golden

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.compile import stage_wrapper as wrapper
from unip_kfp.plan.model import SENTINEL_URI

SEED_000 = EXAMPLES / "train-test" / "manifests"
ARTIFACT = "system.Artifact@0.0.1"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's components, written by the CLI into a fresh folder."""
    out = tmp_path_factory.mktemp("components")
    result = CliRunner().invoke(main, ["components", str(SEED_000), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [
        str(out / "my-pipeline" / "stage1.yaml"),
        str(out / "my-pipeline" / "stage2.yaml"),
    ]
    return out


def load(path: Path) -> Any:
    from kfp import components

    return components.load_component_from_file(str(path))


def test_command_writes_one_yaml_per_stage(exported: Path) -> None:
    assert sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*")) == [
        "my-pipeline",
        "my-pipeline/stage1.yaml",
        "my-pipeline/stage2.yaml",
    ]


def test_committed_components_are_up_to_date(exported: Path) -> None:
    """The shipped components are what the command writes now, up to ``sdkVersion``: they
    keep the kfp version that wrote them, and a kfp patch release must not fail this."""
    written = exported / "my-pipeline"
    check_golden(
        "components/my-pipeline",
        {p.stem: p.read_bytes() for p in sorted(written.glob("*.yaml"))},
        COMPONENTS_DIR / "my-pipeline",
        store_normalised=False,
    )


def test_committed_components_keep_their_real_sdk_version() -> None:
    for path in sorted((COMPONENTS_DIR / "my-pipeline").glob("*.yaml")):
        assert re.search(rb"^sdkVersion: kfp-2\.17\.\d+$", path.read_bytes(), re.MULTILINE), path


def test_readme_says_how_they_were_made_and_how_to_load_them() -> None:
    readme = (COMPONENTS_DIR / "README.md").read_text()
    assert "unip-kfp components examples/train-test/manifests -o components" in readme
    assert "load_component_from_file" in readme


def test_stage1_loads_back_with_every_field(exported: Path) -> None:
    component = load(exported / "my-pipeline" / "stage1.yaml")
    spec = component.component_spec
    assert component.name == "stage1"
    assert "python3 src/training.py" in spec.description
    assert {n: (i.type, i.optional) for n, i in spec.inputs.items()} == {
        "xy_train": (ARTIFACT, False),
        "extra_parameters": (ARTIFACT, False),
    }
    assert {n: o.type for n, o in spec.outputs.items()} == {"model": ARTIFACT}
    container = spec.implementation.container
    assert container.image == "registry.example.com/unip/train-test:0.1.0"
    assert container.command == wrapper.container_command("python3 src/training.py")
    assert container.args == [
        "in", "UNIP_PIPELINE_XY_TRAIN", "{{$.inputs.artifacts['xy_train'].path}}",
        "opt", "UNIP_PIPELINE_EXTRA_PARAMETERS",
        "{{$.inputs.artifacts['extra_parameters'].path}}",
        "{{$.inputs.artifacts['extra_parameters'].uri}}", SENTINEL_URI,
        "out", "UNIP_PIPELINE_MODEL", "{{$.outputs.artifacts['model'].path}}",
        wrapper.container_script(),
    ]  # fmt: skip


def test_stage2_loads_back_with_every_field(exported: Path) -> None:
    component = load(exported / "my-pipeline" / "stage2.yaml")
    spec = component.component_spec
    assert component.name == "stage2"
    assert set(spec.inputs) == {"model", "xy_test", "extra_parameters"}
    assert {n: o.type for n, o in spec.outputs.items()} == {"testing_results": ARTIFACT}
    assert spec.implementation.container.command[-1] == "python3 src/testing.py"


def test_component_yaml_keeps_the_api_descriptions(exported: Path) -> None:
    """kfp's loader drops input descriptions; the YAML itself carries them for readers."""
    doc = yaml.safe_load((exported / "my-pipeline" / "stage1.yaml").read_text())
    inputs = doc["components"]["comp-stage1"]["inputDefinitions"]["artifacts"]
    assert inputs["xy_train"]["description"].startswith("Training data. A table (CSV)")


def test_components_compose_into_a_hand_written_pipeline(exported: Path, tmp_path: Path) -> None:
    from google.protobuf import json_format
    from kfp import compiler, dsl
    from kfp.pipeline_spec import pipeline_spec_pb2

    stage1 = load(exported / "my-pipeline" / "stage1.yaml")
    stage2 = load(exported / "my-pipeline" / "stage2.yaml")

    @dsl.pipeline(name="hand-written")
    def hand_written(xy_train: str, xy_test: str) -> None:
        train = dsl.importer(artifact_uri=xy_train, artifact_class=dsl.Artifact)
        test = dsl.importer(artifact_uri=xy_test, artifact_class=dsl.Artifact)
        absent = dsl.importer(artifact_uri=SENTINEL_URI, artifact_class=dsl.Artifact)
        fit = stage1(xy_train=train.output, extra_parameters=absent.output)
        fit.set_env_variable("MY_VARIABLE", "some_value")
        stage2(model=fit.outputs["model"], xy_test=test.output, extra_parameters=absent.output)

    package = tmp_path / "hand-written.yaml"
    compiler.Compiler().compile(hand_written, str(package))
    doc = yaml.safe_load(package.read_text())
    json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    tasks = doc["root"]["dag"]["tasks"]
    assert {"stage1", "stage2"} <= set(tasks)
    assert "stage1" in tasks["stage2"]["dependentTasks"]
    assert tasks["stage2"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "model",
        "producerTask": "stage1",
    }
    container = doc["deploymentSpec"]["executors"]["exec-stage1"]["container"]
    assert container["command"] == wrapper.container_command("python3 src/training.py")
    assert container["env"] == [{"name": "MY_VARIABLE", "value": "some_value"}]
    assert load(package).name == "hand-written"


def test_value_inputs_export_as_typed_parameters(tmp_path: Path) -> None:
    for case in ("values", "optional"):
        unip_kfp.load(str(CASES_DIR / case), user="golden-user").components(str(tmp_path))
    train = load(tmp_path / "value-types" / "train.yaml").component_spec
    assert {n: i.type for n, i in train.inputs.items()} == {
        "lr": "Float",
        "alpha": "Float",
        "epochs": "Integer",
        "grid": "Dict",
        "label": "String",
        "ratio": "Float",
        "blob": ARTIFACT,
    }
    prepare = load(tmp_path / "optional-inputs" / "prepare.yaml").component_spec
    assert prepare.inputs["note"].optional is True
    assert prepare.inputs["data"].optional is False
    args = prepare.implementation.container.args
    [present] = [a for a in args if isinstance(a, str) and a.startswith('{"IfPresent"')]
    assert json.loads(present) == {
        "IfPresent": {
            "InputName": "note",
            "Then": ["val", "UNIP_PIPELINE_NOTE", "{{$.inputs.parameters['note']}}"],
        }
    }


def test_components_for_every_pipeline_of_a_folder(tmp_path: Path) -> None:
    written = unip_kfp.load(str(CASES_DIR / "multi"), user="golden-user").components(str(tmp_path))
    assert written == [
        str(tmp_path / "alpha" / "copy.yaml"),
        str(tmp_path / "beta" / "cook.yaml"),
        str(tmp_path / "beta" / "serve.yaml"),
    ]
    for path in written:
        container = load(Path(path)).component_spec.implementation.container
        assert container.command[:3] == wrapper.container_command("")[:3]
        assert container.args[-1] == wrapper.container_script()


def test_components_refuse_to_overwrite_a_non_package(tmp_path: Path) -> None:
    target = tmp_path / "my-pipeline" / "stage1.yaml"
    target.parent.mkdir()
    target.write_text("hand: written\n")
    result = CliRunner().invoke(main, ["components", str(SEED_000), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr
    assert target.read_text() == "hand: written\n"
    result = CliRunner().invoke(main, ["components", str(SEED_000), "-o", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert load(target).name == "stage1"

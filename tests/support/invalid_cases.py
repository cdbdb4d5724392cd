"""The catalogue of invalid manifests: each case, and every issue it must report.
A catalogue of invalid manifests: each SPEC §2 rule (and each file error) with its exact report.

Every case starts from the valid pipeline + API below and changes a few lines. The YAML stays
literal so that the expected line numbers can be read off the text (line numbers of BASE_*
are in the comments). Each case lists *every* issue the run must report: file, line, field
path, severity, a piece of the message and (optionally) a piece of the hint; every issue
must carry a hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from unip_kfp.errors import Severity

ERROR, WARNING = Severity.ERROR, Severity.WARNING

BASE_PIPELINE = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata:
  name: p
  namespace: ns
spec:
  vars:
    - name: a
    - name: m
    - name: out
  stages:
    - name: s1
      image:
        existingImageName: img
      inputs:
        - name: a
      outputs:
        - name: m
      env:
        - name: MY_VAR
          value: "x"
      entryPoint:
        cmd: [python3, s1.py]
      resourceLimits:
        cpu: 500m
        memory: 256M
    - name: s2
      image:
        existingImageName: img
      inputs:
        - name: m
      outputs:
        - name: out
      entryPoint:
        cmd: [python3, s2.py]
  connectedBoxes:
    - name: box
      path: /mnt/box
      default: true
      mountS3Box:
        s3BoxName: databox
"""
# Lines: 1 apiVersion, 2 kind, 3 metadata, 4 name: p, 5 namespace, 6 spec, 7 vars, 8 a, 9 m,
# 10 out,
# 11 stages, 12 s1, 13 image, 14 existingImageName, 15 inputs, 16 a, 17 outputs, 18 m, 19 env,
# 20 MY_VAR, 21 value, 22 entryPoint, 23 cmd, 24 resourceLimits, 25 cpu, 26 memory, 27 s2,
# 28 image, 29 existingImageName, 30 inputs, 31 m, 32 outputs, 33 out, 34 entryPoint, 35 cmd,
# 36 connectedBoxes, 37 box, 38 path, 39 default, 40 mountS3Box, 41 s3BoxName

BASE_API = """\
apiVersion: unified-platform.cs.hse.ru/v1
kind: APIComponent
metadata:
  name: api
  namespace: ns
spec:
  experimentPipeline:
    name: p
  apiSpec:
    inputs:
      - name: a
        type:
          datatypes: [FILE]
    outputs:
      - name: out
"""
# Lines: 1 apiVersion, 2 kind, 3 metadata, 4 name, 5 namespace, 6 spec, 7 experimentPipeline,
# 8 name,
# 9 apiSpec, 10 inputs, 11 a, 12 type, 13 datatypes, 14 outputs, 15 out


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` (a test bug if it is not exactly one)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def pipeline(*edits: tuple[str, str]) -> str:
    text = BASE_PIPELINE
    for old, new in edits:
        text = edit(text, old, new)
    return text


def api(*edits: tuple[str, str]) -> str:
    text = BASE_API
    for old, new in edits:
        text = edit(text, old, new)
    return text


@dataclass(frozen=True)
class Expect:
    file: str  # name inside the case folder; "." is the folder itself
    line: int | None
    field: str | None
    message: str  # a substring of the message
    severity: Severity = ERROR
    hint: str | None = None  # a substring of the hint (a hint is always required)


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    expected: tuple[Expect, ...]
    paths: tuple[str, ...] = (".",)
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


def with_api(pipeline_text: str, api_text: str = BASE_API) -> dict[str, str | bytes]:
    return {"pipeline.yaml": pipeline_text, "api.yaml": api_text}


P, A = "pipeline.yaml", "api.yaml"

S1_IMAGE = "    - name: s1\n      image:\n        existingImageName: img\n"
S2_IMAGE = "    - name: s2\n      image:\n        existingImageName: img\n"

CASES: list[Case] = [
    # --- stage inputs/outputs and vars ------------------------------------------------------
    Case(
        "stage-input-undeclared",
        with_api(
            pipeline(("        - name: m\n      outputs:", "        - name: mm\n      outputs:"))
        ),
        (
            Expect(
                P,
                31,
                "spec.stages[1].inputs[0].name",
                "'mm' is not a declared var",
                hint="did you mean 'm'?",
            ),
        ),
    ),
    Case(
        "stage-output-undeclared",
        with_api(
            pipeline(
                (
                    "        - name: m\n      env:",
                    "        - name: m\n        - name: zzz\n      env:",
                )
            )
        ),
        (
            Expect(
                P,
                19,
                "spec.stages[0].outputs[1].name",
                "'zzz' is not a declared var",
                hint="declare it in spec.vars",
            ),
        ),
    ),
    Case(
        "unused-var",
        with_api(
            pipeline(
                ("    - name: out\n  stages:", "    - name: out\n    - name: spare\n  stages:")
            )
        ),
        (
            Expect(
                P,
                11,
                "spec.vars[3].name",
                "var 'spare' is not used by any stage",
                WARNING,
                "remove it",
            ),
        ),
    ),
    Case(
        "internal-read-before-write",
        with_api(
            pipeline(
                (
                    "        - name: a\n      outputs:",
                    "        - name: a\n        - name: m\n      outputs:",
                )
            )
        ),
        (
            Expect(
                P,
                15,
                "spec.stages[0].inputs",
                "stage 's1' reads 'm' before any earlier stage writes it",
            ),
        ),
    ),
    Case(
        "api-output-read-before-written",
        with_api(
            pipeline(
                (
                    "        - name: a\n      outputs:",
                    "        - name: a\n        - name: out\n      outputs:",
                )
            )
        ),
        (
            Expect(
                P,
                15,
                "spec.stages[0].inputs",
                "stage 's1' reads 'out' before any earlier stage writes it",
                hint="move the writing stage before this one",
            ),
        ),
    ),
    Case(
        "two-stages-write-one-var",
        with_api(
            pipeline(
                (
                    "        - name: m\n      env:",
                    "        - name: m\n        - name: out\n      env:",
                )
            )
        ),
        (
            Expect(
                P,
                33,
                "spec.stages[1].outputs",
                "'out' is written by more than one stage (s1, s2)",
                hint="each var has one writer",
            ),
        ),
    ),
    Case(
        "no-api-input-written-later",
        {
            P: pipeline(
                (
                    "        - name: out\n      entryPoint:",
                    "        - name: out\n        - name: a\n      entryPoint:",
                )
            )
        },
        (
            Expect(
                P,
                32,
                "spec.stages[1].outputs",
                "'a' is read by stage 's1' before this stage writes it",
                hint="move the writing stage first",
            ),
        ),
    ),
    Case(
        "mounted-var-written",
        with_api(
            pipeline(
                (
                    "    - name: m\n    - name: out",
                    "    - name: m\n    - name: out\n"
                    "      mountFrom:\n        box:\n          boxPath: data",
                ),
            ),
        ),
        (
            Expect(
                P,
                35,
                "spec.stages[1].outputs",
                "'out' is mounted from a box and also written",
            ),
        ),
    ),
    # --- the APIComponent -------------------------------------------------------------------
    Case(
        "api-input-not-a-var",
        with_api(BASE_PIPELINE, api(("    outputs:", "      - name: ghost\n    outputs:"))),
        (Expect(A, 14, "spec.apiSpec.inputs[1].name", "'ghost' is not a var of the pipeline"),),
    ),
    Case(
        "api-output-not-a-var",
        with_api(BASE_PIPELINE, BASE_API + "      - name: outt\n"),
        (
            Expect(
                A,
                16,
                "spec.apiSpec.outputs[1].name",
                "'outt' is not a var of the pipeline",
                hint="did you mean 'out'?",
            ),
        ),
    ),
    Case(
        "api-output-written-by-no-stage",
        with_api(BASE_PIPELINE, api(("      - name: out\n", "      - name: a\n"))),
        (
            Expect(
                A,
                15,
                "spec.apiSpec.outputs[0].name",
                "API output 'a' is written by no stage",
                hint="add it to a stage's outputs",
            ),
        ),
    ),
    Case(
        "api-input-written-by-stage",
        with_api(BASE_PIPELINE, api(("    outputs:", "      - name: m\n    outputs:"))),
        (
            Expect(
                A,
                14,
                "spec.apiSpec.inputs[1].name",
                "API input 'm' is written by stage 's1'",
            ),
        ),
    ),
    Case(
        "api-duplicate-input",
        with_api(BASE_PIPELINE, api(("    outputs:", "      - name: a\n    outputs:"))),
        (Expect(A, 14, "spec.apiSpec.inputs[1].name", "duplicate API input 'a'"),),
    ),
    Case(
        "api-unknown-datatype",
        {P: BASE_PIPELINE, A: api(("[FILE]", "[FILE, CSV]"))},
        (
            Expect(
                A,
                13,
                "spec.apiSpec.inputs[0].type.datatypes",
                "unknown datatype 'CSV'",
                hint="use one of FP32, ",
            ),
        ),
    ),
    Case(
        "api-output-required-has-no-effect",
        with_api(BASE_PIPELINE, BASE_API + "        required: true\n"),
        (
            Expect(
                A,
                16,
                "spec.apiSpec.outputs[0].required",
                "outputs are always optional",
                WARNING,
            ),
        ),
    ),
    Case(
        "api-names-missing-pipeline",
        with_api(BASE_PIPELINE, api(("    name: p\n", "    name: q\n"))),
        (
            Expect(
                A,
                8,
                "spec.experimentPipeline.name",
                "names pipeline 'q', which is not among the manifests",
                hint="add its ExperimentPipeline manifest",
            ),
        ),
    ),
    Case(
        "api-names-missing-pipeline-bare-string",
        with_api(
            BASE_PIPELINE,
            api(("  experimentPipeline:\n    name: p\n", "  experimentPipeline: pp\n")),
        ),
        (
            # No 'name' key in the bare-string form: the line of spec.experimentPipeline.
            Expect(
                A,
                7,
                "spec.experimentPipeline.name",
                "names pipeline 'pp', which is not among the manifests",
                hint="did you mean 'p'?",
            ),
        ),
    ),
    Case(
        "two-apis-for-one-pipeline",
        {P: BASE_PIPELINE, A: BASE_API, "api2.yaml": api(("  name: api\n", "  name: api2\n"))},
        (
            Expect(
                "api2.yaml",
                8,
                "spec.experimentPipeline.name",
                "pipeline 'p' already has an APIComponent ('api'",
                hint="keep one APIComponent per ExperimentPipeline",
            ),
        ),
    ),
    # --- boxes --------------------------------------------------------------------------------
    Case(
        "two-default-boxes",
        with_api(
            BASE_PIPELINE
            + "    - name: box2\n      default: true\n"
            + "      mountS3Box:\n        s3BoxName: databox2\n"
        ),
        (
            Expect(
                P,
                43,
                "spec.connectedBoxes[1].default",
                "more than one default box ('box' and 'box2')",
            ),
        ),
    ),
    Case(
        "mount-from-unconnected-box",
        with_api(
            pipeline(
                (
                    "    - name: a\n    - name: m",
                    "    - name: a\n      mountFrom:\n        box:\n          name: nobox\n"
                    "          boxPath: data\n    - name: m",
                )
            )
        ),
        (
            Expect(
                P,
                11,
                "spec.vars[0].mountFrom.box.name",
                "'nobox' is not a connected box",
                hint="did you mean 'box'?",
            ),
        ),
    ),
    Case(
        "mount-without-box-and-no-default",
        with_api(
            pipeline(
                (
                    "    - name: a\n    - name: m",
                    "    - name: a\n      mountFrom:\n        box:\n"
                    "          boxPath: data\n    - name: m",
                ),
                ("      default: true\n", "      default: false\n"),
            )
        ),
        (Expect(P, 10, "spec.vars[0].mountFrom.box", "no box named and no default box"),),
    ),
    Case(
        "box-path-escapes-box",
        with_api(
            pipeline(
                (
                    "    - name: a\n    - name: m",
                    "    - name: a\n      mountFrom:\n        box:\n          name: box\n"
                    "          boxPath: ../other\n    - name: m",
                )
            )
        ),
        (
            Expect(
                P,
                12,
                "spec.vars[0].mountFrom.box.boxPath",
                "boxPath '../other' escapes its box",
            ),
        ),
    ),
    Case(
        "box-path-absolute",
        with_api(
            pipeline(
                (
                    "        - name: a\n      outputs:",
                    "        - name: a\n          mountFrom:\n            box:\n"
                    "              boxPath: /etc\n      outputs:",
                )
            )
        ),
        (
            Expect(
                P,
                19,
                "spec.stages[0].inputs[0].mountFrom.box.boxPath",
                "boxPath '/etc' escapes its box",
            ),
        ),
    ),
    Case(
        "databox-not-among-manifests",
        {
            **with_api(BASE_PIPELINE),
            "box.yaml": "apiVersion: unified-platform.cs.hse.ru/v1\nkind: DataBox\n"
            "metadata:\n  name: databx\n  namespace: ns\n",
        },
        (
            Expect(
                P,
                41,
                "spec.connectedBoxes[0].mountS3Box.s3BoxName",
                "no DataBox named 'databox' among the manifests",
                WARNING,
                "did you mean 'databx'?",
            ),
        ),
    ),
    # --- paths ----------------------------------------------------------------------------------
    Case(
        "relative-var-path",
        with_api(
            pipeline(
                ("    - name: a\n    - name: m", "    - name: a\n      path: data/a\n    - name: m")
            )
        ),
        (
            Expect(
                P,
                9,
                "spec.vars[0].path",
                "path 'data/a' is relative",
                hint="use an absolute container path",
            ),
        ),
    ),
    Case(
        "relative-stage-path",
        with_api(
            pipeline(
                (
                    "        - name: a\n      outputs:",
                    "        - name: a\n          path: in/a\n      outputs:",
                )
            )
        ),
        (Expect(P, 17, "spec.stages[0].inputs[0].path", "path 'in/a' is relative"),),
    ),
    Case(
        "relative-box-path",
        with_api(pipeline(("      path: /mnt/box\n", "      path: mnt/box\n"))),
        (Expect(P, 38, "spec.connectedBoxes[0].path", "path 'mnt/box' is relative"),),
    ),
    Case(
        "dotdot-path",
        with_api(
            pipeline(
                (
                    "    - name: a\n    - name: m",
                    "    - name: a\n      path: /data/../etc\n    - name: m",
                )
            )
        ),
        (
            Expect(
                P,
                9,
                "spec.vars[0].path",
                "path '/data/../etc' contains '..'",
                hint="without '..'",
            ),
        ),
    ),
    Case(
        "colliding-paths-in-one-stage",
        with_api(
            pipeline(
                (
                    "        - name: a\n      outputs:",
                    "        - name: a\n          path: /data\n      outputs:",
                ),
                (
                    "        - name: m\n      env:",
                    "        - name: m\n          path: /data/\n      env:",
                ),
            )
        ),
        (
            Expect(
                P,
                20,
                "spec.stages[0].outputs[0].path",
                "path '/data/' of 'm' collides with '/data' of 'a'",
            ),
        ),
    ),
    Case(
        "nested-paths-in-one-stage",
        with_api(
            pipeline(
                ("    - name: a\n    - name: m", "    - name: a\n      path: /data\n    - name: m"),
                (
                    "        - name: m\n      env:",
                    "        - name: m\n          path: /data/model\n      env:",
                ),
            )
        ),
        (
            Expect(
                P,
                20,
                "spec.stages[0].outputs[0].path",
                "path '/data/model' of 'm' collides with '/data' of 'a'",
            ),
        ),
    ),
    # --- names ------------------------------------------------------------------------------------
    Case(
        "env-var-name-collision",
        with_api(
            pipeline(
                (
                    "    - name: out\n  stages:",
                    "    - name: out\n    - name: a-b\n    - name: a_b\n  stages:",
                ),
                (
                    "        - name: out\n      entryPoint:",
                    "        - name: out\n        - name: a-b\n"
                    "        - name: a_b\n      entryPoint:",
                ),
            )
        ),
        (
            Expect(
                P,
                12,
                "spec.vars[4].name",
                "vars 'a-b' and 'a_b' both become environment variable 'UNIP_PIPELINE_A_B'",
                hint="rename one of them",
            ),
            Expect(P, 12, "spec.vars[4].name", "vars 'a-b' and 'a_b' both become KFP name 'a_b'"),
        ),
    ),
    Case(
        "kfp-name-collision",
        with_api(
            pipeline(
                (
                    "    - name: out\n  stages:",
                    "    - name: out\n    - name: a-b\n    - name: a--b\n  stages:",
                ),
                (
                    "        - name: out\n      entryPoint:",
                    "        - name: out\n        - name: a-b\n"
                    "        - name: a--b\n      entryPoint:",
                ),
            )
        ),
        (Expect(P, 12, "spec.vars[4].name", "vars 'a-b' and 'a--b' both become KFP name 'a_b'"),),
    ),
    Case(
        "stage-task-name-collision",
        with_api(pipeline(("    - name: s2\n", "    - name: S1\n"))),
        (Expect(P, 27, "spec.stages[1].name", "stages 's1' and 'S1' both become KFP task 's1'"),),
    ),
    Case(
        "invalid-stage-env-name",
        with_api(pipeline(("- name: MY_VAR", "- name: 1BAD"))),
        (
            Expect(
                P,
                20,
                "spec.stages[0].env[0].name",
                "'1BAD' is not a valid env var name",
                hint="letters, digits and '_'",
            ),
        ),
    ),
    Case(
        "stage-env-name-with-dash",
        with_api(pipeline(("- name: MY_VAR", "- name: MY-VAR"))),
        (Expect(P, 20, "spec.stages[0].env[0].name", "'MY-VAR' is not a valid env var name"),),
    ),
    Case(
        "reserved-env-prefix",
        with_api(pipeline(("- name: MY_VAR", "- name: UNIP_PIPELINE_A"))),
        (
            Expect(
                P,
                20,
                "spec.stages[0].env[0].name",
                "'UNIP_PIPELINE_A' uses the reserved prefix UNIP_PIPELINE_",
            ),
        ),
    ),
    Case(
        "reserved-env-prefix-lower-case",
        with_api(pipeline(("- name: MY_VAR", "- name: unip_pipeline_a"))),
        (Expect(P, 20, "spec.stages[0].env[0].name", "uses the reserved prefix"),),
    ),
    Case(
        "duplicate-stage-env",
        with_api(
            pipeline(
                (
                    '          value: "x"\n',
                    '          value: "x"\n        - name: MY_VAR\n          value: "y"\n',
                )
            )
        ),
        (
            Expect(
                P, 22, "spec.stages[0].env[1].name", "duplicate env var 'MY_VAR' (first at env[0])"
            ),
        ),
    ),
    Case(
        "invalid-metadata-name",
        with_api(BASE_PIPELINE, api(("  name: api\n", "  name: Bad_Name\n"))),
        (
            Expect(
                A,
                4,
                "metadata.name",
                "'Bad_Name' is not a valid name",
                hint="lower-case letters, digits and '-'",
            ),
        ),
    ),
    Case(
        "metadata-name-too-long",
        with_api(BASE_PIPELINE, api(("  name: api\n", f"  name: {'a' * 64}\n"))),
        (Expect(A, 4, "metadata.name", "is not a valid name"),),
    ),
    Case(
        # The pipeline's namespace is the reference, whichever file sorts first.
        "mixed-namespaces",
        with_api(pipeline(("  namespace: ns\n", "  namespace: other\n"))),
        (
            Expect(
                A,
                5,
                "metadata.namespace",
                "namespace 'ns' differs from 'other' (",
                hint="share one metadata.namespace",
            ),
        ),
    ),
    Case(
        "mixed-namespaces-every-other-manifest-reported",
        {
            **with_api(BASE_PIPELINE, api(("  namespace: ns\n", "  namespace: other\n"))),
            "box.yaml": "apiVersion: unified-platform.cs.hse.ru/v1\nkind: DataBox\n"
            "metadata:\n  name: databox\n  namespace: other\n",
        },
        (
            Expect(A, 5, "metadata.namespace", "namespace 'other' differs from 'ns' ("),
            Expect("box.yaml", 5, "metadata.namespace", "namespace 'other' differs from 'ns' ("),
        ),
    ),
    Case(
        "missing-namespace",
        {P: pipeline(("  namespace: ns\n", ""))},
        (Expect(P, 3, "metadata.namespace", "required field 'namespace' is missing"),),
    ),
    # --- duplicates -------------------------------------------------------------------------------
    Case(
        "duplicate-stage-names",
        with_api(pipeline(("    - name: s2\n", "    - name: s1\n"))),
        (
            Expect(
                P,
                27,
                "spec.stages[1].name",
                "duplicate stage 's1' (first at stages[0])",
                hint="names must be unique",
            ),
        ),
    ),
    Case(
        "empty-stage-name",
        with_api(pipeline(("    - name: s2\n", '    - name: ""\n'))),
        (Expect(P, 27, "spec.stages[1].name", "name is empty", hint="give it a name"),),
    ),
    Case(
        "blank-box-name",
        with_api(pipeline(("    - name: box\n", '    - name: " "\n'))),
        (Expect(P, 37, "spec.connectedBoxes[0].name", "name is empty"),),
    ),
    Case(
        "duplicate-vars",
        with_api(
            pipeline(("    - name: out\n  stages:", "    - name: out\n    - name: a\n  stages:"))
        ),
        (Expect(P, 11, "spec.vars[3].name", "duplicate var 'a' (first at vars[0])"),),
    ),
    Case(
        "duplicate-stage-input",
        with_api(
            pipeline(
                (
                    "        - name: a\n      outputs:",
                    "        - name: a\n        - name: a\n      outputs:",
                )
            )
        ),
        (Expect(P, 17, "spec.stages[0].inputs[1].name", "duplicate stage input 'a'"),),
    ),
    Case(
        "duplicate-manifest-name",
        {
            **with_api(BASE_PIPELINE),
            "z.yaml": api(("  experimentPipeline:\n    name: p\n", "")),
        },
        (
            Expect(
                "z.yaml",
                4,
                "metadata.name",
                "duplicate APIComponent 'api'",
                hint="its own name",
            ),
        ),
    ),
    # --- commands, images, resources ------------------------------------------------------------
    Case(
        "empty-cmd",
        with_api(pipeline(("cmd: [python3, s1.py]", "cmd: []"))),
        (
            Expect(
                P,
                23,
                "spec.stages[0].entryPoint.cmd",
                "command is empty",
                hint="list the command",
            ),
        ),
    ),
    Case(
        "blank-cmd",
        with_api(pipeline(("cmd: [python3, s2.py]", 'cmd: ["", " "]'))),
        (Expect(P, 35, "spec.stages[1].entryPoint.cmd", "command is empty"),),
    ),
    Case(
        "empty-image",
        with_api(pipeline((S1_IMAGE, S1_IMAGE.replace("img", '""')))),
        (
            Expect(
                P,
                14,
                "spec.stages[0].image.existingImageName",
                "image is empty",
                hint="name the Docker image",
            ),
        ),
    ),
    Case(
        "bad-cpu",
        with_api(pipeline(("cpu: 500m", "cpu: 500M"))),
        (
            Expect(
                P,
                25,
                "spec.stages[0].resourceLimits.cpu",
                "cpu '500M' is not a quantity Kubeflow accepts",
                hint="500m",
            ),
        ),
    ),
    Case(
        "bad-memory",
        with_api(pipeline(("memory: 256M", "memory: 0.5Gi"))),
        (
            Expect(
                P,
                26,
                "spec.stages[0].resourceLimits.memory",
                "memory '0.5Gi' is not a quantity Kubeflow accepts",
                hint="1Gi",
            ),
        ),
    ),
    Case(
        "bad-memory-unit",
        with_api(pipeline(("memory: 256M", "memory: 1GB"))),
        (Expect(P, 26, "spec.stages[0].resourceLimits.memory", "memory '1GB' is not a quantity"),),
    ),
    Case(
        "cpu-with-trailing-newline",
        with_api(pipeline(("cpu: 500m", 'cpu: "500m\\n"'))),
        (Expect(P, 25, "spec.stages[0].resourceLimits.cpu", "is not a quantity Kubeflow accepts"),),
    ),
    Case(
        "memory-with-trailing-newline",
        with_api(pipeline(("memory: 256M", 'memory: "256M\\n"'))),
        (Expect(P, 26, "spec.stages[0].resourceLimits.memory", "is not a quantity"),),
    ),
    Case(
        "metadata-name-with-trailing-newline",
        {P: pipeline(("  name: p\n", '  name: "p\\n"\n'))},
        (Expect(P, 4, "metadata.name", "is not a valid name"),),
    ),
    Case(
        "env-name-with-trailing-newline",
        with_api(pipeline(("- name: MY_VAR", '- name: "MY_VAR\\n"'))),
        (Expect(P, 20, "spec.stages[0].env[0].name", "is not a valid env var name"),),
    ),
    Case(
        "bad-accelerator-count",
        with_api(
            pipeline(
                ("        memory: 256M\n", "        memory: 256M\n        nvidia.com/gpu: 0\n")
            )
        ),
        (
            Expect(
                P,
                27,
                "spec.stages[0].resourceLimits.nvidia.com/gpu",
                "accelerator count '0' is not a positive integer",
            ),
        ),
    ),
    # --- schema (the pipeline alone; its API adds no follow-on error, see below) ---------------
    Case(
        "non-string-env-value",
        {P: pipeline(('value: "x"', "value: 2"))},
        (
            Expect(
                P,
                21,
                "spec.stages[0].env[0].value",
                "must be a string, got int 2",
                hint='quote the value: "2"',
            ),
        ),
    ),
    Case(
        "boolean-env-value",
        {P: pipeline(('value: "x"', "value: yes"))},
        (
            Expect(
                P,
                21,
                "spec.stages[0].env[0].value",
                "must be a string, got bool True",
                hint='quote the value: "true"',
            ),
        ),
    ),
    Case(
        "wrong-type-list",
        {
            P: pipeline(
                (
                    "      inputs:\n        - name: a\n      outputs:",
                    "      inputs: a\n      outputs:",
                )
            )
        },
        (
            Expect(
                P, 15, "spec.stages[0].inputs", "must be a list, got str 'a'", hint="a YAML list"
            ),
        ),
    ),
    Case(
        "wrong-type-bool",
        {P: pipeline(("      default: true\n", '      default: "yes"\n'))},
        (
            Expect(
                P,
                39,
                "spec.connectedBoxes[0].default",
                "must be true or false, got str 'yes'",
                hint="use true or false",
            ),
        ),
    ),
    Case(
        "missing-required-field",
        {P: pipeline((S2_IMAGE, "    - name: s2\n"))},
        (
            Expect(
                P,
                27,
                "spec.stages[1].image",
                "required field 'image' is missing",
                hint="add 'image:' here",
            ),
        ),
    ),
    Case(
        "missing-metadata-name",
        {P: pipeline(("  name: p\n", ""))},
        (Expect(P, 3, "metadata.name", "required field 'name' is missing"),),
    ),
    Case(
        "wrong-api-version",
        with_api(
            BASE_PIPELINE, api(("apiVersion: unified-platform.cs.hse.ru/v1\n", "apiVersion: v1\n"))
        ),
        (
            Expect(
                A,
                1,
                "apiVersion",
                "apiVersion must be 'unified-platform.cs.hse.ru/v1', got 'v1'",
                hint='set apiVersion: "unified-platform.cs.hse.ru/v1"',
            ),
        ),
    ),
    Case(
        "unknown-kind",
        with_api(BASE_PIPELINE, api(("kind: APIComponent", "kind: APIComponnt"))),
        (Expect(A, 2, "kind", "unknown kind 'APIComponnt'", hint="did you mean 'APIComponent'?"),),
    ),
    Case(
        "missing-kind",
        with_api(BASE_PIPELINE, api(("kind: APIComponent\n", ""))),
        (Expect(A, 1, None, "field 'kind' is missing", hint="ExperimentPipeline"),),
    ),
    Case(
        "unknown-key",
        with_api(
            pipeline(
                ("    - name: a\n    - name: m", "    - name: a\n      paht: /x\n    - name: m")
            )
        ),
        (
            Expect(
                P,
                9,
                "spec.vars[0].paht",
                "unknown key 'paht' (ignored)",
                WARNING,
                "did you mean 'path'?",
            ),
        ),
    ),
    Case(
        "unknown-top-level-key",
        with_api(BASE_PIPELINE + "status: {}\n"),
        (Expect(P, 42, "status", "unknown key 'status' (ignored)", WARNING, "known keys here"),),
    ),
    Case(
        "skipped-kind-is-not-reported",
        {
            **with_api(BASE_PIPELINE),
            "app.yaml": "apiVersion: whatever\nkind: PlatformApp\nmetadata: 5\n",
        },
        (),
    ),
    Case(
        "pipeline-metadata-is-a-list",
        {P: pipeline(("metadata:\n  name: p\n  namespace: ns\n", "metadata: [p]\n"))},
        (Expect(P, 3, "metadata", "must be a mapping, got a list", hint="mapping"),),
    ),
    # --- file errors --------------------------------------------------------------------------
    Case(
        "invalid-yaml",
        {P: pipeline(("cpu: 500m", "cpu: 500m: x"))},
        (
            Expect(
                P,
                25,
                None,
                "invalid YAML: mapping values are not allowed",
                hint="fix the YAML syntax",
            ),
        ),
    ),
    Case(
        "invalid-yaml-unclosed-bracket",
        {P: pipeline(("cmd: [python3, s2.py]", "cmd: [python3, s2.py"))},
        (Expect(P, 36, None, "invalid YAML"),),
    ),
    Case(
        "empty-file",
        {**with_api(BASE_PIPELINE), "empty.yaml": ""},
        (Expect("empty.yaml", 1, None, "empty file: no YAML document", hint="remove the file"),),
    ),
    Case(
        "comments-only-file",
        {**with_api(BASE_PIPELINE), "empty.yml": "# nothing here\n"},
        (Expect("empty.yml", 1, None, "empty file"),),
    ),
    Case(
        "missing-file",
        {},
        (Expect("missing.yaml", None, None, "no such file or directory", hint="check the path"),),
        paths=("missing.yaml",),
    ),
    Case(
        "folder-without-manifests",
        {"README.md": "# not a manifest\n"},
        (Expect(".", None, None, "no manifests found", hint="pass the folder"),),
    ),
    Case(
        "document-is-a-list",
        {**with_api(BASE_PIPELINE), "list.yaml": "- a\n- b\n"},
        (
            Expect(
                "list.yaml", 1, None, "a manifest must be a mapping, got list", hint="apiVersion"
            ),
        ),
    ),
    Case(
        "second-document-is-a-scalar",
        {**with_api(BASE_PIPELINE), "multi.yaml": "# a comment\n---\n'just text'\n"},
        (Expect("multi.yaml", 3, None, "a manifest must be a mapping, got str"),),
    ),
    Case(
        "duplicate-yaml-key",
        with_api(pipeline((S1_IMAGE, S1_IMAGE + "        existingImageName: img2\n"))),
        (
            Expect(
                P,
                15,
                "spec.stages[0].image.existingImageName",
                "duplicate key 'existingImageName' (first on line 14)",
                hint="YAML keeps only the last value",
            ),
        ),
    ),
    Case(
        "line-numbers-in-a-later-document",
        {
            **with_api(BASE_PIPELINE),
            "boxes.yaml": "apiVersion: unified-platform.cs.hse.ru/v1\nkind: DataBox\n"
            "metadata:\n  name: databox\n  namespace: ns\n---\n"
            "apiVersion: unified-platform.cs.hse.ru/v1\nkind: DataBox\n"
            "metadata:\n  name: Other_Box\n  namespace: ns\n",
        },
        (Expect("boxes.yaml", 10, "metadata.name", "'Other_Box' is not a valid name"),),
    ),
    Case(
        "not-utf8",
        {**with_api(BASE_PIPELINE), "latin1.yaml": "name: caf\xe9\n".encode("latin-1")},
        (Expect("latin1.yaml", None, None, "not UTF-8 text (byte 9)", hint="UTF-8"),),
    ),
    Case(
        "utf8-bom-is-fine",
        {P: "\ufeff" + BASE_PIPELINE, A: BASE_API},
        (),
    ),
    Case(
        "control-character",
        {**with_api(BASE_PIPELINE), "ctrl.yaml": "a: 1\nb: \x07\n"},
        (Expect("ctrl.yaml", 2, None, "invalid YAML", hint="remove the control character"),),
    ),
]


def write_case(case: Case, root: Path) -> list[str]:
    for name, content in case.files.items():
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content, encoding="utf-8")
    return [str(root / p) if p != "." else str(root) for p in case.paths]

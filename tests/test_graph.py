"""`unip-kfp graph`: the planned DAG as Mermaid, DOT, a self-contained HTML page and SVG.

The pictures are checked as a person sees them: Chromium renders the HTML page (the vendored
Mermaid draws it, with no network) and the SVG that Graphviz draws, to PNGs that must hold
a drawing and whose DOM must show every stage name. Names from manifests are hostile input:
they must come out as text in every format, never as markup or script.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.chromium import Rendered, ink, png_size, render

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.errors import EXIT_INVALID, EXIT_USAGE
from unip_kfp.plan.model import PipelinePlan
from unip_kfp.views import graph

ROOT = Path(__file__).resolve().parent.parent
TRAIN_TEST = ROOT / "examples" / "train-test" / "manifests"
MOUNTED = ROOT / "examples" / "train-test-mounted" / "manifests"
FANOUT = ROOT / "tests" / "compile_cases" / "fanout"
VENDOR = ROOT / "unip_kfp" / "vendor"

HOSTILE_STAGE = "<script>document.title='PWNED'</script> \"q\" #1 & `b` |p| [x] ;end"
HOSTILE = f"""\
apiVersion: unified-platform.cs.hse.ru/v1
kind: ExperimentPipeline
metadata:
  name: hostile
  namespace: ns
spec:
  vars:
    - name: "in<b>put"
    - name: "mid\\"dle"
    - name: out
  stages:
    - name: {json.dumps(HOSTILE_STAGE)}
      image:
        existingImageName: "img\\\\x:1 <i>\\" ]"
      inputs:
        - name: "in<b>put"
      outputs:
        - name: "mid\\"dle"
      entryPoint:
        cmd: [sh, -c, "true"]
    - name: second
      image:
        existingImageName: img
      inputs:
        - name: "mid\\"dle"
      outputs:
        - name: out
      entryPoint:
        cmd: ["true"]
"""


def plan_of(path: Path, name: str | None = None) -> PipelinePlan:
    return unip_kfp.load(str(path)).pipeline(name)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE, encoding="utf-8")
    assert plan_of(path).stages[0].name == HOSTILE_STAGE
    return path


# --- what the graph says ----------------------------------------------------------------------


def test_mermaid_of_the_example_shows_stages_types_and_edges() -> None:
    text = graph.to_mermaid(graph.build(plan_of(TRAIN_TEST)))
    assert text.startswith("---\ntitle: my-pipeline\n---\nflowchart LR\n")
    for stage in ("stage1", "stage2"):
        assert re.search(rf'stage_\d+\["<b>{stage}</b><br>', text), stage
    assert text.count("registry.example.com/unip/train-test:0.1.0") == 2
    assert "cpu 500m · memory 256M" in text
    assert re.search(r'in_\d+\(\["xy_train<br>input · FILE · text/csv"\]\)', text)
    assert re.search(r'in_\d+\(\["extra_parameters<br>optional input · FILE', text)
    assert re.search(r'out_\d+\[/"testing_results<br>output · folder · text/csv"/\]', text)
    # the internal var is an edge between the stages, labelled with its name
    assert re.search(r'stage_0 -->\|"model"\| stage_1', text)
    # the optional input reaches both stages with dashed edges, required ones with solid
    optional = re.search(r'(in_\d+)\(\["extra_parameters', text)
    assert optional
    assert text.count(f"{optional.group(1)} -.-> ") == 2
    assert re.search(r"in_\d+ --> stage_0", text)
    assert "stage_1 --> out_" in text


def test_mounted_vars_show_their_box_and_box_path() -> None:
    text = graph.to_mermaid(graph.build(plan_of(MOUNTED)))
    node = re.search(
        r'(mount_\d+)\[\("xy_train<br>mounted · box global-data-box<br>'
        r'users/developer/file_groups/my_dataset<br>at /data"\)\]',
        text,
    )
    assert node, text
    assert f"{node.group(1)} --> stage_0" in text


def test_readme_shows_the_example_graph() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = graph.to_mermaid(graph.build(plan_of(TRAIN_TEST)))
    assert f"```mermaid\n{expected}```\n" in readme.split("## Authoring a module", 1)[1]


def test_value_inputs_show_their_datatype(tmp_path: Path) -> None:
    text = graph.to_mermaid(graph.build(plan_of(ROOT / "tests" / "compile_cases" / "values")))
    assert re.search(r"input · (FP32|FP64|INT32|dict|str) value", text), text


def test_parallel_keeps_only_the_data_edges() -> None:
    ordered = graph.to_mermaid(graph.build(plan_of(FANOUT)))
    parallel = graph.to_mermaid(graph.build(plan_of(FANOUT), parallel=True))
    # Left Branch and right_branch share no data: in manifest order one waits for the other
    assert re.search(r'stage_0 -->\|"then"\| stage_1', ordered)
    assert "then" not in parallel
    for text in (ordered, parallel):
        assert re.search(r'stage_0 -->\|"left"\| stage_2', text)
        assert re.search(r'stage_1 -->\|"right"\| stage_2', text)


def test_hostile_names_are_text_in_mermaid_and_dot(hostile: Path) -> None:
    model = graph.build(plan_of(hostile))
    mermaid = graph.to_mermaid(model)
    for line in mermaid.splitlines()[4:]:
        labels = re.findall(r'"([^"]*)"', line)
        markup = [re.sub(r"</?(b|br)>", "", label) for label in labels]
        assert all(not re.search("[<>`|]", label) for label in markup), line
    assert "#60;script#62;" in mermaid and "#34;q#34;" in mermaid
    dot = graph.to_dot(model)
    assert '\\"q\\"' in dot and "img\\\\x:1" in dot


# --- formats and the command --------------------------------------------------------------------


def test_dot_is_valid_graphviz() -> None:
    dot = graph.to_dot(graph.build(plan_of(TRAIN_TEST)))
    assert dot.startswith('digraph "my-pipeline" {')
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True)
    texts = {html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg.stdout)}
    assert {"stage1", "stage2", "xy_train", "testing_results", "model"} <= texts


def test_cli_graph_prints_mermaid_by_default() -> None:
    result = CliRunner().invoke(main, ["graph", str(TRAIN_TEST)])
    assert result.exit_code == 0, result.output
    assert result.stdout == graph.to_mermaid(graph.build(plan_of(TRAIN_TEST)))


def test_cli_graph_writes_each_format(tmp_path: Path) -> None:
    for fmt in ("mermaid", "dot", "html", "svg"):
        out = tmp_path / f"g.{fmt}"
        result = CliRunner().invoke(
            main, ["graph", str(FANOUT), "--format", fmt, "-o", str(out), "--parallel"]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{out}\n"
        assert out.stat().st_size > 0
    assert "then" not in (tmp_path / "g.mermaid").read_text()
    assert (tmp_path / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_cli_graph_svg_without_graphviz_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    result = CliRunner().invoke(main, ["graph", str(TRAIN_TEST), "--format", "svg"])
    assert result.exit_code == EXIT_USAGE
    assert "Graphviz" in result.stderr and "apt-get install graphviz" in result.stderr
    assert "Traceback" not in result.output


def test_cli_graph_of_invalid_manifests_exits_3(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(HOSTILE.replace("name: out\n", "name: ou\n", 1))
    result = CliRunner().invoke(main, ["graph", str(tmp_path)])
    assert result.exit_code == EXIT_INVALID
    assert "Traceback" not in result.output


def test_cli_graph_with_several_pipelines_asks_for_one() -> None:
    multi = ROOT / "tests" / "compile_cases" / "multi"
    result = CliRunner().invoke(main, ["graph", str(multi)])
    assert result.exit_code == EXIT_USAGE
    assert "--pipeline" in result.stderr
    assert CliRunner().invoke(main, ["graph", str(multi), "--pipeline", "alpha"]).exit_code == 0


# --- the vendored renderer ----------------------------------------------------------------------


def test_the_vendored_mermaid_is_the_pinned_release() -> None:
    notes = (VENDOR / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((VENDOR / "mermaid.min.js").read_bytes()).hexdigest()
    assert f"sha256 `{digest}`" in notes
    assert f"mermaid@{graph.MERMAID_VERSION}" in notes
    assert "MIT" in (VENDOR / "mermaid.LICENSE").read_text(encoding="utf-8")


def test_html_is_one_self_contained_file() -> None:
    page = graph.to_html(graph.build(plan_of(TRAIN_TEST)))
    outside_scripts = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"\b(src|href)=", outside_scripts)
    assert "<link" not in outside_scripts and "@import" not in outside_scripts
    assert "default-src 'none'" in page  # the browser may fetch nothing
    assert page.count("<script>") == 2


# --- pictures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """The example as HTML (Mermaid) and SVG (Graphviz), and the hostile pipeline as HTML,
    rendered by Chromium in parallel."""
    folder = tmp_path_factory.mktemp("pictures")
    hostile_file = folder / "hostile.yaml"
    hostile_file.write_text(HOSTILE, encoding="utf-8")
    example = graph.build(plan_of(TRAIN_TEST))
    pages = {
        "html": (graph.to_html(example), "html"),
        "svg": (graph.to_svg(graph.to_dot(example)).decode("utf-8"), "svg"),
        "hostile": (graph.to_html(graph.build(plan_of(hostile_file))), "html"),
    }
    jobs = []
    for name, (content, suffix) in pages.items():
        page = folder / f"{name}.{suffix}"
        page.write_text(content, encoding="utf-8")
        jobs.append((page, folder / f"{name}.png"))
    return dict(zip(pages, render(jobs), strict=True))


def svg_text(dom: str) -> str:
    """The text of the rendered `<svg>` elements of a DOM (tags dropped, entities decoded)."""
    svgs = re.findall(r"<svg[\s>].*?</svg>", dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", " ".join(svgs)))


def test_html_graph_renders_every_stage_in_a_browser(pictures: dict[str, Rendered]) -> None:
    shown = pictures["html"]
    assert 'data-graph="rendered"' in shown.dom, "Mermaid did not render the graph"
    text = svg_text(shown.dom)
    for name in ("stage1", "stage2", "xy_train", "extra_parameters", "testing_results", "model"):
        assert name in text, name
    assert png_size(shown.png) == (1400, 900)
    assert ink(shown.png) > 0.01


def test_svg_graph_renders_every_stage_in_a_browser(pictures: dict[str, Rendered]) -> None:
    shown = pictures["svg"]
    text = svg_text(shown.dom)
    for name in ("stage1", "stage2", "xy_train", "testing_results"):
        assert name in text, name
    assert ink(shown.png) > 0.01


def test_hostile_names_render_as_text(pictures: dict[str, Rendered]) -> None:
    shown = pictures["hostile"]
    assert 'data-graph="rendered"' in shown.dom
    assert "<title>hostile · unip-kfp graph</title>" in shown.dom  # no script changed it
    text = " ".join(svg_text(shown.dom).split())
    assert "<script>document.title='PWNED'</script>" in text
    assert '"q" #1 & `b` |p| [x] ;end' in text
    assert "in<b>put" in text and 'mid"dle' in text
    for svg in re.findall(r"<svg[\s>].*?</svg>", shown.dom, flags=re.S):
        assert "<script" not in svg and "in<b>" not in svg and "<i>" not in svg
    assert ink(shown.png) > 0.01


def test_chromium_and_graphviz_are_installed() -> None:
    assert shutil.which("dot"), "apt-get install graphviz"

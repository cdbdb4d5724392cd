"""The local run report: `.unip-kfp/reports/<run>/report.html`, one page a person opens.

A real run of the example writes it; the summary's last line names it; it outlives the run
folder a successful run removes and never lands in an output folder. Its content is read
as text (timeline, stages, logs, inputs and outputs with sizes), and Chromium renders it
to a PNG whose DOM must show every stage name and the drawn graph. A failed run with a
hostile stage name reports the failure, escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.chromium import ink, render
from support.local_runs import Lines, copy_example, isolate, manifest, stage, write_module

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.local.result import StageFailedError
from unip_kfp.local.runner import run_local
from unip_kfp.views.html_page import CSP

HOSTILE = "<script>document.title='PWNED'</script>&amp;"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The example run once through the CLI, every output copied out: (module, stderr)."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(root, monkeypatch)
        module = copy_example(root)
        monkeypatch.chdir(module)
        result = CliRunner().invoke(
            main,
            ["run", "manifests", "-i", "xy_train=./data/xy_train.csv", "-i",
             "xy_test=./data/xy_test.csv", "-o", "testing_results=./results"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        yield module, result.stderr


def report_of(stderr: str) -> Path:
    last = stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("report: "), last
    return Path(last.removeprefix("report: "))


def text_of(page: str) -> str:
    """The visible text of a page, roughly: tags dropped, entities decoded."""
    body = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_the_summary_names_the_report_which_outlives_the_run_folder(
    example_run: tuple[Path, str],
) -> None:
    module, stderr = example_run
    report = report_of(stderr)
    assert report.parent.parent == module / ".unip-kfp" / "reports"
    assert report.name == "report.html" and report.is_file()
    assert "run folder removed" in stderr
    assert not list((module / ".unip-kfp" / "runs").iterdir())
    assert not list((module / "results").rglob("*.html"))  # never in an output folder


def test_the_report_holds_timeline_stages_logs_inputs_and_outputs(
    example_run: tuple[Path, str],
) -> None:
    module, stderr = example_run
    page = report_of(stderr).read_text(encoding="utf-8")
    text = text_of(page)
    assert "pipeline my-pipeline · succeeded" in text
    assert re.search(r"stage1 succeeded \+0\.00 s \(\d\d:\d\d:\d\d\) \d+\.\d\d s 0", text), text
    assert re.search(r"stage2 succeeded \+\d+\.\d\d s \(\d\d:\d\d:\d\d\) \d+\.\d\d s 0", text)
    timeline = re.search(r'<svg class="timeline".*?</svg>', page, flags=re.S)
    assert timeline and "stage1" in timeline.group(0) and "exit 0" in timeline.group(0)
    # each stage's log tail, as the stage printed it
    assert "training: extra_parameters not given" in text
    assert "testing: " in text
    # inputs with their local paths and sizes, outputs with where they went and their size
    size = (module / "data" / "xy_train.csv").stat().st_size
    assert f"{size / 1024:.1f} KiB" in text
    assert str(module / "data" / "xy_train.csv") in text
    assert "extra_parameters optional file not given" in text
    assert f"copied to {module / 'results'}" in text
    assert re.search(r"testing_results .* 1 file, \d+ B", text)
    # the graph, drawn as an inline SVG: stages, the internal var between them, no script
    drawing = re.search(r'<svg class="graph".*?</svg>', page, flags=re.S)
    assert drawing, "no graph"
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", drawing.group(0))
    for name in ("stage1", "stage2", "model", "testing_results", "xy_train"):
        assert name in " ".join(texts), name
    assert "<script" not in page and len(page.encode()) < 100_000


def test_the_report_is_one_file_that_loads_nothing(example_run: tuple[Path, str]) -> None:
    page = report_of(example_run[1]).read_text(encoding="utf-8")
    assert CSP in page
    outside = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"\b(src|href)=", outside) and "<link" not in outside


def test_a_person_sees_the_report(example_run: tuple[Path, str], tmp_path: Path) -> None:
    report = report_of(example_run[1])
    [shown] = render([(report, tmp_path / "report.png")], size=(1280, 1600))
    svgs = " ".join(re.findall(r"<svg[\s>].*?</svg>", shown.dom, flags=re.S))
    for name in ("stage1", "stage2", "model", "testing_results"):
        assert name in html.unescape(svgs), name
    assert "training: extra_parameters not given" in shown.dom
    assert ink(shown.png) > 0.02


def test_a_failed_run_reports_the_failure_escaped(tmp_path: Path) -> None:
    module = tmp_path / "failing"
    pipeline = manifest(
        "ExperimentPipeline",
        "failing",
        {
            "vars": [{"name": "made"}, {"name": "out"}],
            "stages": [
                stage("first", ["sh", "-c", "'echo \"<b>made</b> it\"'"], outputs=["made"]),
                stage(HOSTILE, ["sh", "-c", "'echo about to fail; echo boom >&2; exit 3'"],
                      inputs=["made"], outputs=["out"]),
            ],
        },
    )  # fmt: skip
    write_module(module, pipeline, {})
    echo = Lines()
    with pytest.raises(StageFailedError) as failed:
        unip_kfp.load(str(module / "manifests")).run_local(echo=echo)
    result = failed.value.result
    assert result is not None and result.report is not None
    assert echo.lines[-1] == f"report: {result.report}"
    page = Path(result.report).read_text(encoding="utf-8")
    assert "<script>document" not in re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;&amp;amp;" in page
    assert "<b>made</b>" not in page and "&lt;b&gt;made&lt;/b&gt; it" in page
    text = text_of(page)
    assert "pipeline failing · failed" in text
    assert re.search(r"first succeeded .* 0 ", text)
    assert f"{HOSTILE} failed" in text and "exit 3" in text
    assert "about to fail boom" in text
    assert "out" in text and "no outputs produced" in text


def test_a_package_run_reports_without_a_graph(tmp_path: Path) -> None:
    module = tmp_path / "small"
    pipeline = manifest(
        "ExperimentPipeline",
        "small",
        {
            "vars": [{"name": "out"}],
            "stages": [stage("only", ["sh", "-c", "'echo done'"], outputs=["out"])],
        },
    )
    write_module(module, pipeline, {})
    [package] = unip_kfp.load(str(module / "manifests")).compile(output=str(module / "out"))
    echo = Lines()
    result = run_local(str(package.path), workdir=str(module), echo=echo)
    assert result.report and echo.lines[-1] == f"report: {result.report}"
    page = Path(result.report).read_text(encoding="utf-8")
    assert "not available: this run used a compiled package" in page
    assert '<pre class="mermaid">' not in page and "<script>" not in page
    assert "only succeeded" in text_of(page) and "done" in text_of(page)

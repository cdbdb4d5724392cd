"""What a stage sees of the environment, and the kubelet's `$(NAME)`/`$$` expansion.

A pod gets only what its spec defines; Kubernetes rewrites `$(NAME)` and `$$` in every
container command/arg and env value before the shell sees them (issue 9, points 10 and 11).
The expected results of the expansion are the Kubernetes rules (its own test table in
third_party/forked/golang/expansion/expand_test.go), not what our code happens to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support.local_runs import Lines, isolate, manifest, read, stage, write_module

import unip_kfp
from unip_kfp.cli import main
from unip_kfp.compile import stage_wrapper as wrapper
from unip_kfp.compile.stage_wrapper import WRAPPER_SCRIPT
from unip_kfp.local.expansion import expand


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


# --- the kubelet's rule, case by case from Kubernetes' own test table ------------------------

K8S_CONTEXT = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}

K8S_CASES = [
    ("$(VAR_A)", "A"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("$(VAR_A)-1", "A-1"),
    ("___$(VAR_B)___", "___B___"),
    ("___$(VAR_C)", "___C"),
    ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
    ("foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
    ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("$(VAR_REF)", "$(VAR_A)"),
    ("%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("foo$(VAR_EMPTY)bar", "foobar"),
    ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("$?_boo_$!", "$?_boo_$!"),
    ("$VAR_A", "$VAR_A"),
    ("$(VAR_DNE)", "$(VAR_DNE)"),
    ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("$$$$$$$(VAR_A)", "$$$A"),
    ("$VAR_A)", "$VAR_A)"),
    ("${VAR_A}", "${VAR_A}"),
    ("$(VAR_B)_______$(A", "B_______$(A"),
    ("$(VAR_C)_______$(", "C_______$("),
    ("$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("--$($($($($--", "--$($($($($--"),
    ("$($($($($--foo$(", "$($($($($--foo$("),
    ("foo0--$($($($(", "foo0--$($($($("),
    ("$(foo$$var)", "$(foo$$var)"),
    ("\n", "\n"),
    ("$é$(VAR_A)", "$éA"),  # runes, as Kubernetes >= 1.35 reads them
]


@pytest.mark.parametrize(("text", "expected"), K8S_CASES)
def test_expansion_follows_the_kubelet_table(text: str, expected: str) -> None:
    assert expand(text, K8S_CONTEXT) == expected


def test_env_values_see_only_the_variables_defined_before_them(tmp_path: Path) -> None:
    # Kubernetes' TestMapReference: FOO=bar, ZOO=$(FOO)-1, BLU=$(ZOO)-2 -> bar, bar-1, bar-1-2;
    # a reference to a later variable stays as written.
    pipeline = manifest("ExperimentPipeline", "refs", {
        "vars": [{"name": "out"}],
        "stages": [stage("show", ["sh", "src/show.sh"], [], ["out"], env={
            "FOO": "bar", "ZOO": "$(FOO)-1", "BLU": "$(ZOO)-2", "EARLY": "$(LATE)", "LATE": "x",
        })],
    })
    script = 'for v in FOO ZOO BLU EARLY; do printenv "$v"; done > "$UNIP_PIPELINE_OUT/env"\n'
    manifests = write_module(tmp_path / "module", pipeline, {"show.sh": script})
    result = unip_kfp.load(str(manifests)).run_local(keep=True, echo=Lines())
    assert read(Path(result.outputs["out"]) / "env") == "bar\nbar-1\nbar-1-2\n$(LATE)\n"


# --- the wrapper reaches the shell byte-exact; the user's command keeps its cluster meaning --


def _command_line(package: bytes) -> list[str]:
    """The (only) container's command and args, as the package holds them."""
    spec = next(yaml.safe_load_all(package))
    [executor] = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    return [*container["command"], *container["args"]]


def test_the_compiled_wrapper_is_byte_exact_after_kubernetes_expansion(tmp_path: Path) -> None:
    pipeline = manifest("ExperimentPipeline", "exact", {
        "vars": [{"name": "out", "path": "/p$$a/$(HOME)/o"}],
        "stages": [stage("s", ["echo", "$$x", "$(MY_VARIABLE)"], [], ["out"],
                         env={"MY_VARIABLE": "v"})],
    })
    manifests = write_module(tmp_path / "module", pipeline, {})
    [compiled] = unip_kfp.load(str(manifests)).compile()
    pod_env = {"MY_VARIABLE": "v"}
    line = [expand(item, pod_env) for item in _command_line(compiled.content)]
    # what the shell gets after the kubelet: `sh -c` and the wrapper's own text, byte-exact
    assert line[:2] == ["sh", "-c"]
    assert line[2] in (WRAPPER_SCRIPT, getattr(wrapper, "BOOT", None))
    assert WRAPPER_SCRIPT in line
    # the records' constants (a target path) are data, byte-exact too
    assert any(item.endswith("/p$$a/$(HOME)/o") for item in line)
    # the user's command is not escaped: on the cluster it reads `$x` and MY_VARIABLE's value
    assert "echo $x v" in line


def test_cmd_gets_the_value_of_a_pod_variable_as_on_the_cluster(tmp_path: Path) -> None:
    pipeline = manifest("ExperimentPipeline", "expand", {
        "vars": [{"name": "out"}],
        "stages": [stage("s", [
            "printf", "'%s|'", "$(MY_VARIABLE)", "'$$(MY_VARIABLE)'", "'$(NOT_DEFINED)'",
            "'$(HOME)'", "'$$$$'", ">", '"$UNIP_PIPELINE_OUT/said"',
        ], [], ["out"], env={"MY_VARIABLE": "some_value"})],
    })
    manifests = write_module(tmp_path / "module", pipeline, {})
    result = unip_kfp.load(str(manifests)).run_local(keep=True, echo=Lines())
    # HOME comes from the host, not from the pod spec: Kubernetes leaves $(HOME) alone
    said = read(Path(result.outputs["out"]) / "said")
    assert said == "some_value|$(MY_VARIABLE)|$(NOT_DEFINED)|$(HOME)|$$|"


def test_the_wrappers_own_dollar_dollar_is_its_pid_without_mktemp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wrapper falls back to `unip-stage.$$.<n>` when mktemp is missing: after the
    # kubelet's rule it must still be the PID, not a literal '$'.
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("sh", "mkdir", "dirname", "ln", "rm", "rmdir", "cp", "cat"):
        found = next(Path(d) / tool for d in ("/bin", "/usr/bin") if (Path(d) / tool).exists())
        (tools / tool).symlink_to(found)
    pipeline = manifest("ExperimentPipeline", "nomktemp", {
        "vars": [{"name": "n"}, {"name": "out"}],
        "stages": [stage("s", ["printf", "%s", '"$UNIP_PIPELINE_N"', ">",
                               '"$UNIP_PIPELINE_OUT/where"'], ["n"], ["out"])],
    })
    api = manifest("APIComponent", "nomktemp-api", {
        "experimentPipeline": {"name": "nomktemp"},
        "apiSpec": {"inputs": [{"name": "n", "type": {"datatypes": ["INT32"]}}],
                    "outputs": [{"name": "out"}]},
    })
    manifests = write_module(tmp_path / "module", pipeline, {}, api)
    monkeypatch.setenv("PATH", str(tools))
    result = unip_kfp.load(str(manifests)).run_local(inputs={"n": "7"}, keep=True, echo=Lines())
    where = read(Path(result.outputs["out"]) / "where")
    assert re.search(r"/unip-stage\.[0-9]+(\.[0-9]+)?/UNIP_PIPELINE_N$", where), where


# --- a pod-like environment -------------------------------------------------------------------


def _env_module(tmp_path: Path, box_secret: bool = False) -> Path:
    pipeline = manifest("ExperimentPipeline", "envs", {
        "vars": [{"name": "data", "mountFrom": {"box": {"name": "box", "boxPath": "d"}}},
                 {"name": "out"}],
        "stages": [stage("s", ["sh", "src/env.sh"], ["data"], ["out"], env={"STAGE_VAR": "1"})],
        "connectedBoxes": [{"name": "box", "default": True,
                            "mountS3Box": {"s3BoxName": "env-box"}}],
    })
    script = 'env | cut -d= -f1 | sort > "$UNIP_PIPELINE_OUT/names"\n' \
        'printf %s "${AWS_ACCESS_KEY_ID-unset}" > "$UNIP_PIPELINE_OUT/key"\n'
    manifests = write_module(tmp_path / "module", pipeline, {"env.sh": script})
    (tmp_path / "module" / ".unip-kfp" / "boxes" / "env-box" / "d").mkdir(parents=True)
    if box_secret:
        (tmp_path / "module" / "unip-kfp.yaml").write_text(
            "boxes:\n  env-box:\n    secret: env-box-s3\n", encoding="utf-8")
    return manifests


ALLOWED = {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "PYTHONUNBUFFERED", "PWD", "SHLVL", "_",
           "STAGE_VAR", "OLDPWD"}


def test_stages_get_what_a_pod_would_and_no_host_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "host-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", "/var/run/token")
    monkeypatch.setenv("STRAY_SETTING", "works-only-here")
    manifests = _env_module(tmp_path)
    echo = Lines()
    result = unip_kfp.load(str(manifests)).run_local(keep=True, echo=echo)
    out = Path(result.outputs["out"])
    names = set(read(out / "names").split())
    assert names - {n for n in names if n.startswith("UNIP_PIPELINE_")} <= ALLOWED
    assert {"PATH", "HOME", "TMPDIR", "STAGE_VAR"} <= names
    assert read(out / "key") == "unset"
    assert "--inherit-env" in echo.text  # the summary says how to get the rest


def test_box_secrets_give_the_callers_keys_as_the_secret_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "caller-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "not-in-the-secret")
    manifests = _env_module(tmp_path, box_secret=True)
    result = unip_kfp.load(str(manifests)).run_local(keep=True, echo=Lines())
    out = Path(result.outputs["out"])
    names = set(read(out / "names").split())
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= names
    assert "AWS_SESSION_TOKEN" not in names
    assert read(out / "key") == "caller-key"


def test_inherit_env_passes_the_rest_and_the_summary_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRAY_SETTING", "works-only-here")
    manifests = _env_module(tmp_path)
    monkeypatch.chdir(manifests.parent)
    outcome = CliRunner().invoke(main, ["run", "manifests", "--inherit-env", "--keep"])
    assert outcome.exit_code == 0, outcome.stderr
    [run] = (manifests.parent / ".unip-kfp" / "runs").iterdir()
    assert "STRAY_SETTING" in read(run / "artifacts" / "s" / "out" / "names").split()
    assert "--inherit-env" in outcome.stderr and "this shell" in outcome.stderr

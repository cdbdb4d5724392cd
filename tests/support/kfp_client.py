"""Pipelines and helpers for driving the fake KFP API server with the real `kfp.Client`.

The fixtures `package`, `example` and `client` built on them are in `tests/conftest.py`.
"""

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kfp import dsl
from kfp_server_api import ApiException

from .kfp_api_server import KfpApiServer

ROOT = Path(__file__).resolve().parents[2]
EPOCH, ZERO = "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z"
STATUS = "type.googleapis.com/google.rpc.Status"


@dsl.container_component
def _echo(msg: str):
    return dsl.ContainerSpec(image="alpine", command=["echo"], args=[msg])


@dsl.pipeline(name="unip-demo")
def _demo(msg: str = "hi", lr: float = 0.1):
    first = _echo(msg=msg).set_display_name("train")
    _echo(msg="done").set_display_name("test").after(first)


@dsl.pipeline(name="needs-input")
def _needs(msg: str):
    _echo(msg=msg)


def raw(server: KfpApiServer, path: str) -> dict[str, Any]:
    """The JSON exactly as served (kfp's models parse timestamps and drop unknown keys)."""
    with urllib.request.urlopen(f"{server.url}/apis/v2beta1{path}", timeout=5) as answer:
        return dict(json.loads(answer.read()))


def failure(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as err:
        call()
    return err.value.status, json.loads(err.value.body)

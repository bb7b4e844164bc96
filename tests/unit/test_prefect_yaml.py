"""prefect.yaml parses, every deployment's entry point is a flow, and the schedules that
issue 22 adds are there (the e2e tier deploys it against a real server)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow

PROJECT = Path(__file__).resolve().parents[2]


def deployments() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    found: list[dict[str, Any]] = document["deployments"]
    return found


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: str(d["name"]))
def test_every_entry_point_is_a_flow(deployment: dict[str, Any]) -> None:
    path, name = str(deployment["entrypoint"]).split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert isinstance(getattr(module, name), Flow)


def test_the_reconcile_deployment_runs_hourly() -> None:
    [reconcile] = [d for d in deployments() if d["name"] == "reconcile"]
    assert reconcile["entrypoint"] == "flows/reconcile.py:reconcile_account"
    [schedule] = reconcile["schedules"]
    assert schedule["cron"].split()[1:] == ["*", "*", "*", "*"]

"""Integration fixtures: one MeetStream simulator served over a real socket on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meetstream_catalog.simulator.scenario import load_scenario
from meetstream_catalog.simulator.server import serve_in_thread
from meetstream_catalog.simulator.state import SimulatorConfig
from tests.integration.simulator_calls import Receiver

DEMO_SCENARIO = (
    Path(__file__).parents[2] / "meetstream_catalog" / "simulator" / "scenarios" / "demo.yaml"
)


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/api/v1``) of a manual-clock simulator with the
    demo scenario; key ``sim-demo-key``. Tests call ``POST /_simulator/reset`` first and
    move time with ``POST /_simulator/advance``."""
    config = SimulatorConfig(speed=0.0, scenario=load_scenario(DEMO_SCENARIO))
    with serve_in_thread(config) as base_url:
        yield base_url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on 127.0.0.1 recording every delivery (bodies and headers)."""
    r = Receiver()
    yield r
    r.close()

"""Session-wide test wiring: an isolated Prefect home, and shared servers on 127.0.0.1.

Prefect settings are read from the environment, so they are set here, before any test
module imports Prefect. Servers are session-scoped because each costs seconds to start;
tests that need a clean state reset it themselves.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from typing import NoReturn

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="meetstream-tests-prefect-")
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
    }
)
for _name in list(os.environ):
    if _name.startswith("MEETSTREAM_") or _name.startswith("AWS_"):
        del os.environ[_name]  # a developer's real key or bucket must never reach a test


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-export-libs",
        action="store_true",
        help="fail, not skip, the tests whose libraries are missing (torch, torchcodec, "
        "lhotse, datasets, FFmpeg's shared libraries); CI sets it",
    )


def missing_library(config: pytest.Config, what: str) -> NoReturn:
    """Skip the test with the one line `what` (which names what to install), or fail it
    with that line under --require-export-libs, so CI never passes with them unseen."""
    if config.getoption("--require-export-libs"):
        pytest.fail(f"--require-export-libs: {what}", pytrace=False)
    # Reported at the test, not at this line (as pytest's own skipif marks are), so that
    # `-rs` names each skipped test.
    raise pytest.skip.Exception(what, _use_item_location=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect test API for the whole session (it costs ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, speaking the real S3 protocol to s3fs."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty bucket per test; yields its name. AWS credentials are dummies."""
    import uuid

    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto_endpoint})
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    yield bucket
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def demo_catalog(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo meetings captured once through Prefect; yields the catalog root path.

    Built with the same code as `make demo`, so tests of the catalog (and of the cookbook
    queries in docs/catalog.md) run against exactly what a newcomer sees.
    """
    from meetstream_catalog.cli.demo import run_demo

    data = tmp_path_factory.mktemp("demo-data")
    saved = {k: v for k, v in os.environ.items() if k.startswith("MEETSTREAM_")}
    try:
        assert run_demo(data_dir=str(data)) == 0
    finally:
        for name in [k for k in os.environ if k.startswith("MEETSTREAM_")]:
            del os.environ[name]
        os.environ.update(saved)
    return str(data / "catalog")

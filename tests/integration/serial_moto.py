"""A moto S3 server in its own process, handling one request at a time.

Why not `ThreadedMotoServer` for Delta tests:
- stock moto checks `If-None-Match` and then writes without a lock, so under concurrent
  requests two writers can both "create" the same log entry and one acknowledged commit is
  lost. Real S3 (and MinIO) make the conditional PUT atomic; serializing the server's
  request handling (`threaded=False`) gives moto the same guarantee;
- in the test process, a delta-rs call that holds the GIL while it waits for S3 (such as
  `DeltaTable.history()`) would wait for a server thread that needs that same GIL.

Run as a script: `python tests/integration/serial_moto.py PORT`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serial_moto() -> Iterator[str]:
    """Start the server on a free 127.0.0.1 port; yield its endpoint URL; stop it by PID."""
    port = _free_port()
    env = {**os.environ, "MOTO_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, __file__, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))

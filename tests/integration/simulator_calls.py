"""What the simulator tests share: its API key header, bot creation and the manual clock
(in-process, through httpx.ASGITransport), and a webhook endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

DEMO = Path(__file__).parents[2] / "meetstream_catalog" / "simulator" / "scenarios" / "demo.yaml"
AUTH = {"Authorization": "Token sim-demo-key"}


async def create_bot(c: httpx.AsyncClient, link: str, **extra: Any) -> dict[str, Any]:
    body = {"meeting_link": link, "bot_name": "Archivist", "audio_separate_streams": True,
            "video_separate_streams": True} | extra  # fmt: skip
    r = await c.post("/api/v1/bots/create_bot", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def advance(c: httpx.AsyncClient, seconds: float) -> None:
    assert (await c.post("/_simulator/advance", json={"seconds": seconds})).status_code == 200


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records raw bodies and headers."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        received = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.calls]

    def events(self) -> list[str]:
        return [body["event"] for body in self.bodies]

    def wait_for(self, event: str, timeout: float = 5.0) -> dict[str, Any]:
        """The first delivery of `event`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [b for b in self.bodies if b["event"] == event]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {event} webhook; got {self.events()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

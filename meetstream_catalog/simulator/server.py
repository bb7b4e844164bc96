"""Command line and server wiring: ``python -m meetstream_catalog.simulator`` and
:func:`serve_in_thread`.

:func:`add_arguments` / :func:`run` are reused by ``meetstream-catalog simulator``;
:func:`serve_in_thread` runs uvicorn on a free loopback port for tests and the demo.

Traps guarded against: the default bind address is 127.0.0.1 (the admin routes are
unauthenticated); the thread-served server is stopped with uvicorn's own ``should_exit``
and joined, so no socket or thread outlives the ``with`` block; the API key and secrets are
never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from meetstream_catalog.simulator.app import create_app
from meetstream_catalog.simulator.faults import FaultError, parse_fault
from meetstream_catalog.simulator.media import MediaProfile
from meetstream_catalog.simulator.scenario import ScenarioError, load_scenario
from meetstream_catalog.simulator.state import DEMO_API_KEY, DEMO_WEBHOOK_SECRET, SimulatorConfig
from meetstream_catalog.simulator.webhooks import parse_delivery_faults


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument(
        "--api-key",
        default=DEMO_API_KEY,
        help=f"the key accepted as 'Authorization: Token <key>' ({DEMO_API_KEY})",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="meeting seconds per real second (0 = manual clock via "
        "POST /_simulator/advance; default 60)",
    )
    parser.add_argument(
        "--url-ttl",
        type=float,
        default=600.0,
        help="presigned per-participant URL lifetime in real seconds (600)",
    )
    parser.add_argument("--scenario", type=Path, help="scenario file (.yaml/.yml/.json)")
    parser.add_argument(
        "--webhook-faults",
        default=None,
        metavar="JSON",
        help='unreliable webhook delivery, e.g. \'{"drop": 0.25, "duplicate": 0.1, '
        '"delay": 0.5, "reorder": true, "seed": 1}\'',
    )
    parser.add_argument(
        "--webhook-secret",
        default=DEMO_WEBHOOK_SECRET,
        help="HMAC secret for X-MeetStream-Signature ('' = unsigned)",
    )
    parser.add_argument(
        "--video-shape",
        choices=("nested", "flat"),
        default="nested",
        help="get_recording_streams body shape (default nested)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='fault rule, repeatable, e.g. \'{"endpoint": "status", '
        '"status": 429, "retry_after": 2, "count": 3}\'',
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=50,
        help="bots per page of GET /bots and /calendar/scheduled_bots (default 50)",
    )
    parser.add_argument("--speech-bytes-per-second", type=int, default=2000)
    parser.add_argument("--video-bytes-per-second", type=int, default=1500)
    parser.add_argument("--wav-sample-rate", type=int, default=8000)
    parser.add_argument("--log-level", default="warning")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build a :class:`SimulatorConfig`; raises ValueError with a readable message."""
    scenario = load_scenario(args.scenario) if args.scenario else None
    faults = [parse_fault(json.loads(raw)) for raw in args.fault]
    media = MediaProfile(
        speech_bytes_per_second=args.speech_bytes_per_second,
        video_bytes_per_second=args.video_bytes_per_second,
        wav_sample_rate=args.wav_sample_rate,
    )
    config = SimulatorConfig(
        api_key=args.api_key,
        speed=args.speed,
        url_ttl=args.url_ttl,
        webhook_secret=args.webhook_secret or None,
        webhook_faults=parse_delivery_faults(json.loads(args.webhook_faults or "{}")),
        video_shape=args.video_shape,
        faults=faults,
        media=media,
        page_size=args.page_size,
    )
    if scenario is not None:
        config.scenario = scenario
    return config


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns a process exit code."""
    try:
        config = config_from_args(args)
    except (OSError, ValueError, ScenarioError, FaultError) as exc:
        print(f"simulator: {exc}")
        return 2
    print(
        f"MeetStream simulator on http://{args.host}:{args.port}/api/v1 "
        f"(speed {config.speed:g}x, scenario: {args.scenario or 'defaults'})"
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run the simulator in a background thread; yields ``http://host:port/api/v1``."""
    port = port or _free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host=host, port=port, log_level="error", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="meetstream-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"simulator did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}/api/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

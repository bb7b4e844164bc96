"""How fast archive_file copies, against a plain download of the same bytes in the same run.

Serves a generated file from a minimal HTTP server on 127.0.0.1, then measures:
the baseline (httpx stream to nowhere), archive_file to a local directory, and to S3 on a
moto server (also on 127.0.0.1). Throughput runs without tracemalloc (it slows allocation);
peak memory is a separate traced run. Runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import httpx
from s3fs import S3FileSystem

from meetstream_catalog.archive import archive_file
from meetstream_catalog.archive.files import MediaFile
from meetstream_catalog.archive.plan import storage_key
from meetstream_catalog.roots import Root

SIZE = 64 * 2**20
CHUNK = 1 << 20


async def _serve(data: bytes) -> tuple[asyncio.Server, str]:
    view = memoryview(data)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")  # every request gets the whole file
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode())
            for offset in range(0, len(view), 1 << 18):
                writer.write(view[offset : offset + (1 << 18)])
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/media.webm"


async def _timed(run: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def _peak(run: Callable[[], Awaitable[object]]) -> int:
    tracemalloc.start()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def _bench(endpoint: str) -> None:
    data = os.urandom(SIZE)
    server, url = await _serve(data)
    item_key = storage_key("bench-bot", "audio", "Bench", "s1", 0, "bench.webm")
    item = MediaFile(bot_id="bench-bot", kind="audio", participant_name="Bench", key=item_key)
    s3_options: dict[str, object] = {"client_kwargs": {"endpoint_url": endpoint}}
    S3FileSystem(**s3_options).mkdir("bench")

    async def fetch_url(refresh: bool) -> str:
        return url

    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:

        async def baseline() -> None:
            async with http.stream("GET", url) as resp:
                async for _ in resp.aiter_bytes(CHUNK):
                    pass

        with tempfile.TemporaryDirectory() as tmp:
            counter = iter(range(100))

            def to(root: str, options: dict[str, object]) -> Callable[[], Awaitable[object]]:
                # A fresh key per run, so the re-run skip never short-cuts a measurement.
                async def run() -> object:
                    fresh = item.model_copy(update={"key": f"{next(counter)}/{item.key}"})
                    return await archive_file(fresh, fetch_url=fetch_url, http=http,
                                              media_root=Root(root, options))  # fmt: skip

                return run

            runs = {
                "baseline httpx -> /dev/null": baseline,
                "archive_file -> local disk": to(tmp, {}),
                "archive_file -> moto S3": to("s3://bench/archive", s3_options),
            }
            base = 0.0
            for label, run in runs.items():
                await run()  # warm-up: connections, s3fs instance, page cache
                seconds = min([await _timed(run) for _ in range(3)])
                peak = await _peak(run)
                base = base or seconds
                print(
                    f"{label:30s} {SIZE / 2**20 / seconds:8.1f} MB/s"
                    f"  ratio {base / seconds:5.2f}  peak traced {peak / 2**20:5.1f} MiB",
                    flush=True,
                )
    server.close()
    await server.wait_closed()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto in its own process: it keeps objects in memory, which tracemalloc must not see."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{endpoint}/moto-api/", trust_env=False)
            return proc, endpoint
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    moto, endpoint = _start_moto()
    print(f"file size {SIZE / 2**20:.0f} MiB, chunk {CHUNK // 1024} KiB, best of 3")
    try:
        asyncio.run(_bench(endpoint))
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()

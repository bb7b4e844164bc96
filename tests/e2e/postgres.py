"""A throw-away PostgreSQL cluster for e2e tests: initdb in a temporary directory, started on
127.0.0.1 on a free port, stopped by its PID, deleted afterwards.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the `postgres`
OS user of the Debian package and the directory is handed to it; otherwise it runs as the
current user. Durability is off (fsync, synchronous_commit, full_page_writes): the data
lives for one test session. The binaries come from `pg_config --bindir`, or the newest
/usr/lib/postgresql/*/bin (Debian does not put initdb or postgres on PATH).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SERVICE_USER = "postgres"


def bindir() -> Path | None:
    """Where initdb and postgres live, or None when PostgreSQL is not installed."""
    if (pg_config := shutil.which("pg_config")) is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(found.stdout.strip())
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    return next((p for p in versions if (p / "postgres").exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], user: str | None, cwd: Path) -> None:
    done = subprocess.run(argv, user=user, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def postgres_server(database: str = "prefect") -> Iterator[str]:
    """Start a cluster with an empty `database`; yield its SQLAlchemy asyncpg URL."""
    binaries = bindir()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql")
    user = SERVICE_USER if os.geteuid() == 0 else None
    tmp = Path(tempfile.mkdtemp(prefix="pg-e2e-"))
    if user is not None:
        owner = pwd.getpwnam(user)
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
    data, port = tmp / "data", _free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        _run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "prefect", "--auth=trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            user, tmp,
        )  # fmt: skip
        with (tmp / "postgres.log").open("wb") as log:
            process = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1",
                 "-p", str(port), "-k", str(tmp), "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=300"],
                user=user, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_ready(port, process, tmp / "postgres.log")
        _run(
            [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect",
             database],
            user, tmp,
        )  # fmt: skip
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/{database}"
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"postgres did not listen on {port} within 30 s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one; then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)

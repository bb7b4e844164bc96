"""Where media lands: fsspec roots and atomic writers.

Responsibilities: open a `file://` or `s3://` root through fsspec; size and hash what is
stored; write a stream so that a reader never sees a partial object at its final key.
Which key a file gets is `meetstream_catalog.archive.plan`; the copying itself is
`meetstream_catalog.archive.transfer`.

Traps guarded against:
- fsspec's buffered file commits on `close()`, and `__exit__` and even `__del__` call
  `close()` on an error path, so an S3 multipart upload interrupted mid-stream would be
  published truncated. `FsspecWriter.discard` aborts the upload and marks the file closed;
- a local rename is atomic only within one filesystem, so `LocalWriter` writes its
  temporary file beside the target and fsyncs both the file and the directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import fsspec

from meetstream_catalog.roots import Root

# s3fs rejects parts under 5 MiB; a small block bounds the memory held per open upload.
S3_BLOCK_SIZE = 8 * 2**20


class StorageIntegrityError(OSError):
    """What landed in storage is not what was written (size differs after upload)."""


@dataclass(frozen=True)
class StorageRoot:
    """An opened media root: the fsspec filesystem and the root path inside it."""

    fs: Any  # fsspec.AbstractFileSystem (untyped library)
    path: str
    protocol: str

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    def full_path(self, key: str) -> str:
        return f"{self.path}/{key}"

    def uri(self, key: str) -> str:
        """Durable URI of a key: `file:///abs/path` or `s3://bucket/key`, never presigned."""
        return f"{self.protocol}://{self.full_path(key)}"

    def size_of(self, key: str) -> int | None:
        """Size of the stored object, or None when there is none."""
        path = self.full_path(key)
        self.fs.invalidate_cache(path)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        return int(info["size"]) if info.get("type") == "file" else None

    def sha256_of(self, key: str, chunk_size: int = 1 << 20) -> tuple[str, int]:
        """Stream the stored object and return (sha256 hex, bytes)."""
        hasher, total = hashlib.sha256(), 0
        with self.fs.open(self.full_path(key), "rb", block_size=chunk_size) as f:
            while chunk := f.read(chunk_size):
                hasher.update(chunk)
                total += len(chunk)
        return hasher.hexdigest(), total


def open_root(root: Root) -> StorageRoot:
    """Open a `file://` or `s3://` root through fsspec, with the root's options."""
    fs, path = fsspec.core.url_to_fs(root.url, **dict(root.options))
    return StorageRoot(fs=fs, path=str(path).rstrip("/"), protocol=root.protocol)


class AtomicWriter(Protocol):
    """Blocking writer, called from a worker thread; nothing is visible before commit."""

    def write(self, data: bytes) -> None: ...

    def reset(self) -> None:
        """Forget everything written so far (the server restarted the body from zero)."""

    def commit(self, expected_size: int) -> None:
        """Publish at the final key, then check the stored size."""

    def discard(self) -> None:
        """Drop the partial data; the final key is left as it was."""


class LocalWriter:
    """Temporary file beside the target, fsync, then os.replace (atomic on POSIX)."""

    def __init__(self, final_path: str) -> None:
        self._final = Path(final_path)
        self._final.parent.mkdir(parents=True, exist_ok=True)
        # Same directory, so os.replace is a rename within one filesystem, never a copy.
        # The owner (host and PID) in the name lets a later run tell a crashed copy's file
        # from one still being written.
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self._final.name}.{_OWNER}.", suffix=".part", dir=self._final.parent
        )
        self._tmp = Path(tmp)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._lock = threading.Lock()  # a cancelled write may still run in its thread

    def write(self, data: bytes) -> None:
        with self._lock:
            self._file.write(data)

    def reset(self) -> None:
        with self._lock:
            self._file.seek(0)
            self._file.truncate()

    def commit(self, expected_size: int) -> None:
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            size = os.fstat(self._file.fileno()).st_size
            self._file.close()
            if size != expected_size:
                self._tmp.unlink(missing_ok=True)
                raise StorageIntegrityError(f"wrote {size} bytes, expected {expected_size}")
            self._tmp.replace(self._final)
            # Make the rename itself durable, not only the file's contents.
            dir_fd = os.open(self._final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        with self._lock:
            self._file.close()
            self._tmp.unlink(missing_ok=True)


class FsspecWriter:
    """Buffered fsspec file (s3fs: multipart upload that materialises only on close)."""

    def __init__(self, root: StorageRoot, key: str, block_size: int = S3_BLOCK_SIZE) -> None:
        self._root, self._path, self._block = root, root.full_path(key), block_size
        self._lock = threading.Lock()
        self._file = self._open()

    def _open(self) -> Any:
        return self._root.fs.open(self._path, "wb", block_size=self._block)

    def _abort(self) -> None:
        self._file.discard()  # s3fs: abort_multipart_upload; nothing was published
        # Never let close() run later (fsspec's __del__ calls it): it would commit.
        self._file.closed = True

    def write(self, data: bytes) -> None:
        with self._lock:
            self._file.write(data)

    def reset(self) -> None:
        with self._lock:
            self._abort()
            self._file = self._open()

    def commit(self, expected_size: int) -> None:
        with self._lock:
            self._file.close()
        size = self._root.size_of(self._path.removeprefix(self._root.path + "/"))
        if size != expected_size:
            # Published but wrong: remove it rather than leave a bad object at the key.
            self._root.fs.rm(self._path)
            raise StorageIntegrityError(f"stored {size} bytes, expected {expected_size}")

    def discard(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._abort()


def open_writer(root: StorageRoot, key: str) -> AtomicWriter:
    """The atomic writer for this root: rename locally, abortable upload elsewhere."""
    if root.is_local:
        return LocalWriter(root.full_path(key))
    return FsspecWriter(root, key)


STALE_AFTER_SECONDS = 600.0  # a .part file untouched this long has no writer any more
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"
_OWNER = f"{_HOST}-{os.getpid()}"
_PART = re.compile(r"\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[^.]*\.part$")


def sweep_partial_files(
    root: StorageRoot, prefix: str, *, older_than_seconds: float = STALE_AFTER_SECONDS
) -> list[str]:
    """Delete the local `.part` files under `prefix` left by crashed copies; return them.

    A file goes when its writer is dead (its owner is a process of this host that no
    longer runs) or when nobody touched it for `older_than_seconds` (a writer on another
    host, or an unnamed file): a copy in progress writes its file continuously. Object
    stores keep no partial objects (an interrupted multipart upload never appears as a
    key), so they are skipped.
    """
    if not root.is_local:
        return []
    base = Path(root.full_path(prefix))
    if not base.is_dir():
        return []
    cutoff = time.time() - older_than_seconds
    removed = []
    for path in base.rglob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            if _orphaned(path.name) or path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(str(path))
    return removed


def _orphaned(name: str) -> bool:
    owner = _PART.search(name)
    if owner is None or owner["host"] != _HOST or int(owner["pid"]) == os.getpid():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False

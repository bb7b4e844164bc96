"""The media archive: manifest -> files in the team's storage, streamed, verified, atomic.

`plan` (which file goes to which key), `files` (the file types), `download` (HTTP: resume,
refresh, retry), `storage` (roots, atomic writers) and `transfer` (copy one or many).
"""

from meetstream_catalog.archive.files import ArchivedMedia, MediaFile, MediaKind
from meetstream_catalog.archive.plan import (
    ArchiveBatchError,
    ArchiveError,
    MediaGoneError,
    plan_media,
    segment_url,
    storage_key,
)
from meetstream_catalog.archive.storage import StorageRoot, open_root
from meetstream_catalog.archive.transfer import archive_all, archive_file

__all__ = [
    "ArchiveBatchError",
    "ArchiveError",
    "ArchivedMedia",
    "MediaFile",
    "MediaGoneError",
    "MediaKind",
    "StorageRoot",
    "archive_all",
    "archive_file",
    "open_root",
    "plan_media",
    "segment_url",
    "storage_key",
]

"""Where a catalog table lives, and the delta-rs options that reach it.

Responsibility: `table_uri(name, root)`, the table's URL under the catalog root (a local
path, `file://...` or `s3://bucket/prefix`), and `delta_storage_options`, delta-rs' options
derived from the fsspec dict that s3fs is given (`Settings.storage_options()`) plus the
`AWS_*` environment.

Traps guarded against: s3fs and delta-rs configured apart (two endpoints, two sets of
credentials), a relative root that means another place in another working directory (the
root is resolved to an absolute URL), and an `http://` endpoint (MinIO, moto) that delta-rs
refuses unless AWS_ALLOW_HTTP is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from meetstream_catalog.settings import resolve_root

__all__ = ["delta_storage_options", "table_uri"]


def table_uri(name: str, root: str) -> str:
    """`file:///abs/root/<name>` or `s3://bucket/prefix/<name>`."""
    return f"{resolve_root(root)}/{name}"


def delta_storage_options(
    storage_options: Mapping[str, Any] | None, root: str = "s3://"
) -> dict[str, str] | None:
    """delta-rs options from the fsspec dict of `Settings.storage_options()` plus AWS_* env.

    None for local roots. An `http://` endpoint (MinIO, moto) needs AWS_ALLOW_HTTP.
    """
    if not resolve_root(root).startswith("s3://"):
        return None
    fsspec_opts = dict(storage_options or {})
    endpoint = fsspec_opts.get("client_kwargs", {}).get("endpoint_url") or fsspec_opts.get(
        "endpoint_url"
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    found = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true" if str(endpoint or "").startswith("http://") else None,
        "AWS_REGION": region or ("us-east-1" if endpoint else None),
        "AWS_ACCESS_KEY_ID": fsspec_opts.get("key") or os.environ.get("AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": fsspec_opts.get("secret")
        or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "AWS_SESSION_TOKEN": fsspec_opts.get("token") or os.environ.get("AWS_SESSION_TOKEN"),
    }
    return {k: str(v) for k, v in found.items() if v}

"""One storage root as one value: its URL and the options that reach it.

Responsibility: `Root(url, options)`, a media or catalog root (a local path, `file://...`
or `s3://bucket/prefix`) resolved to an absolute URL, with the fsspec options s3fs is given
(`options`) and the delta-rs options derived from them (`delta_options`). `Root.at` builds
one from a location and the S3 endpoint; `Settings.media()` and `Settings.catalog()` are
the roots a run uses. Like prefect-aws's `S3Bucket`, the place and how to reach it travel
together, so nothing passes a root and its options apart.

Traps guarded against: s3fs and delta-rs configured apart (two endpoints, two sets of
credentials), a relative root that means another place in another working directory (the
URL is resolved to an absolute one when the Root is built), and an `http://` endpoint
(MinIO, moto) that delta-rs refuses unless AWS_ALLOW_HTTP is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Root"]


def _resolve(location: str) -> str:
    """A local path or URL as an absolute fsspec URL (file:///abs or s3://...)."""
    if "://" in location:
        if location.startswith("file://"):
            return "file://" + str(Path(location.removeprefix("file://")).resolve())
        return location.rstrip("/")
    return "file://" + str(Path(location).resolve())


@dataclass(frozen=True)
class Root:
    """A storage root: its absolute URL and the fsspec (s3fs) options that reach it.

    `Root("s3://bucket/catalog", {"client_kwargs": {"endpoint_url": "http://minio:9000"}})`
    or `Root("data/catalog")`; the URL is resolved to an absolute one when built.
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # may hold secrets

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", _resolve(self.url))

    @classmethod
    def at(cls, location: str | Root, *, s3_endpoint_url: str | None = None) -> Root:
        """The root at `location` (a Root passes through unchanged).

        On `s3://`, a given endpoint (MinIO, moto) goes into the s3fs options.
        """
        if isinstance(location, Root):
            return location
        url = _resolve(location)
        if s3_endpoint_url and url.startswith("s3://"):
            return cls(url, {"client_kwargs": {"endpoint_url": s3_endpoint_url}})
        return cls(url)

    @property
    def is_local(self) -> bool:
        return self.url.startswith("file://")

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0]

    def join(self, *parts: str) -> str:
        """The URL of a key or table under this root."""
        return "/".join((self.url, *parts))

    def delta_options(self) -> dict[str, str] | None:
        """delta-rs options from the s3fs options plus the AWS_* environment.

        None for roots other than `s3://`. An `http://` endpoint (MinIO, moto) needs
        AWS_ALLOW_HTTP.
        """
        if not self.url.startswith("s3://"):
            return None
        fsspec_opts = dict(self.options)
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

    def __str__(self) -> str:
        return self.url

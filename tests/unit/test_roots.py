"""Root: one value for a storage root, its URL and the options s3fs and delta-rs get."""

from __future__ import annotations

from pathlib import Path

import pytest

from meetstream_catalog.roots import Root
from meetstream_catalog.settings import Settings


def test_a_local_root_is_an_absolute_file_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = Root.at("data/catalog", s3_endpoint_url="http://127.0.0.1:9000")
    assert root.url == f"file://{tmp_path.resolve()}/data/catalog"
    assert root.is_local
    assert dict(root.options) == {}
    assert root.delta_options() is None
    assert Root.at(f"file://{tmp_path}/x/").url == f"file://{tmp_path.resolve()}/x"
    assert root.join("bots") == f"file://{tmp_path.resolve()}/data/catalog/bots"
    assert Root.at(root) is root


def test_an_s3_root_carries_the_endpoint_to_s3fs_and_delta_rs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    root = Root.at("s3://bucket/catalog/", s3_endpoint_url="http://127.0.0.1:9000")
    assert root.url == "s3://bucket/catalog"
    assert not root.is_local
    assert root.options == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}
    assert root.join("media", "k") == "s3://bucket/catalog/media/k"
    assert root.delta_options() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    assert Root.at("s3://bucket/catalog").options == {}
    assert "secret" not in repr(Root("s3://b", {"secret": "hidden"}))


def test_settings_give_the_media_and_catalog_roots() -> None:
    settings = Settings(
        media_root="s3://b/media", catalog_root="s3://b/catalog", s3_endpoint_url="http://e:1"
    )
    assert settings.media() == Root(
        "s3://b/media", {"client_kwargs": {"endpoint_url": "http://e:1"}}
    )
    assert settings.catalog().url == "s3://b/catalog"
    assert Settings(catalog_root="/tmp/c", s3_endpoint_url="http://e:1").catalog() == Root("/tmp/c")

"""The one wiring point: where demo, test and production differ.

Everything that changes between the simulator on 127.0.0.1 and the real MeetStream API on
S3 storage is read here, from arguments or `MEETSTREAM_*` environment variables. The trap
this guards against: reading a secret at import time with an empty default, so a missing
key only shows up as a 401 from the server. Here the key is optional until first use, and
`require_api_key` says exactly what to set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from meetstream_catalog.roots import Root

DEFAULT_API_URL = "https://api.meetstream.ai/api/v1"
# MeetStream's post-call transcript providers (recording_config.transcript.provider), and
# those whose documented options include a model (docs/meetstream-api.md, section 10).
TranscriptProvider = Literal["deepgram", "assemblyai", "sarvam", "jigsawstack", "meetstream"]
PROVIDERS_WITH_MODEL = ("deepgram", "assemblyai", "sarvam")
# Prefect Secret blocks that stand in for the webhook settings below when they are unset.
WEBHOOK_SECRET_BLOCK = "meetstream-webhook-secret"  # noqa: S105 - block names, not secrets
TOKEN_KEY_BLOCK = "meetstream-webhook-token-key"  # noqa: S105
PREVIOUS_TOKEN_KEY_BLOCK = "meetstream-webhook-token-key-previous"  # noqa: S105


class MissingApiKeyError(RuntimeError):
    """No MeetStream API key was configured. Set MEETSTREAM_API_KEY (or pass api_key)."""


class Settings(BaseSettings):
    """Runtime settings, from arguments or `MEETSTREAM_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MEETSTREAM_", extra="ignore")

    api_key: SecretStr | None = Field(
        default=None, description="MeetStream API key (MEETSTREAM_API_KEY)."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="MeetStream API base URL (MEETSTREAM_API_URL)."
    )
    media_root: str = Field(
        default="data/media",
        description="Where media files are archived: a local path, file:// or s3:// URL.",
    )
    catalog_root: str = Field(
        default="data/catalog",
        description="Where the Parquet catalog lives: a local path, file:// or s3:// URL.",
    )
    meetings_url: str | None = Field(
        default=None,
        description="The scheduled batch's meeting list: a CSV/JSON/JSONL/Parquet file or an "
        "iCalendar feed (.ics), as a path, http(s):// or s3:// URL.",
    )
    # Issue 22: which events of an iCalendar meeting list are meetings to capture.
    calendar_owner: str | None = Field(
        default=None,
        description="The calendar owner's email address: events they declined are skipped.",
    )
    calendar_floating_timezone: str = Field(
        default="UTC",
        description="The IANA time zone of a feed's floating times (no TZID), e.g. Europe/Berlin.",
    )
    calendar_skip_transparent: bool = Field(
        default=True, description="Skip events marked free (TRANSP:TRANSPARENT)."
    )
    calendar_title_include: str | None = Field(
        default=None, description="Only events whose title matches this regex (any case)."
    )
    calendar_title_exclude: str | None = Field(
        default=None, description="Skip events whose title matches this regex (any case)."
    )
    calendar_organizer_domains: str | None = Field(
        default=None,
        description="Only events organized from these email domains (comma-separated).",
    )
    calendar_min_attendees: int = Field(
        default=0, ge=0, description="Skip events with fewer attendees (ATTENDEE lines)."
    )
    webhook_url: str | None = Field(
        default=None,
        description="The webhook receiver's public URL (https://.../webhooks/meetstream). "
        "When set, captures run in webhook mode by default: no worker waits through a meeting.",
    )
    webhook_token_key: SecretStr | None = Field(
        default=None,
        description="Our key for the per-bot tokens in every callback URL (the workers sign "
        "them, the receiver checks them); or the Secret block 'meetstream-webhook-token-key'.",
    )
    webhook_token_key_previous: SecretStr | None = Field(
        default=None,
        description="The token key before the last rotation: the receiver still accepts its "
        "tokens (bots created before the rotation) while this is set.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="MeetStream's webhook signing secret (its dashboard), for the receiver; "
        "or the Secret block 'meetstream-webhook-secret'.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint (MinIO, moto); unset for AWS S3.",
    )
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    outage_tolerance_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="How long one step keeps retrying a failing MeetStream or media server "
        "(5xx, 429, timeouts, refused connections) before the capture gives up.",
    )
    poll_interval_seconds: float = Field(
        default=5.0, gt=0, description="First pause between status or manifest polls."
    )
    # 75 s, not 60: the backoff's first eight polls come within four minutes, so a cap of
    # 60 s still averages more than one status call per meeting-minute at 60 minutes
    # (1.07); 75 s keeps a 30-minute meeting at 0.97 and notices the exit within 75 s.
    poll_max_interval_seconds: float = Field(
        default=75.0,
        gt=0,
        description="Longest pause between polls (backoff cap), and so the longest delay "
        "before a bot's exit or a finished manifest is noticed.",
    )
    processing_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="How long to wait for manifests after the bot left."
    )
    archive_concurrency: int = Field(default=4, ge=1, description="Files copied at once per bot.")
    retention_hours: int | None = Field(
        default=None,
        ge=1,
        description="Sent as recording_config.retention (timed, hours) when a bot is created: "
        "how long MeetStream keeps its recordings. Unset: MeetStream's own default.",
    )
    transcript_provider: TranscriptProvider | None = Field(
        default=None,
        description="Post-call transcript provider sent as recording_config.transcript when a "
        "bot is created (deepgram, assemblyai, sarvam, jigsawstack, meetstream). Unset: no "
        "transcript is asked for.",
    )
    transcript_model: str | None = Field(
        default=None,
        description="The provider's model (deepgram nova-3, assemblyai universal-2, sarvam "
        "saaras:v3); unset: the provider's default.",
    )
    transcript_language: str | None = Field(
        default=None,
        description="The transcript's language code (en, hi, ...); unset: the provider's default.",
    )
    delete_after_archive: bool = Field(
        default=False,
        description="Delete a bot's data at MeetStream (DELETE /bots/{id}/delete) once every "
        "file is archived, verified (size and sha256) and committed to the catalog.",
    )
    media_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Keep archived media files this many days after the meeting; the nightly "
        "maintenance deletes older ones, keeping their catalog rows with `media_erased_at` "
        "set (issue 21). Unset: media is kept.",
    )

    @model_validator(mode="after")
    def _transcript_options(self) -> Settings:
        if self.transcript_provider is None and (self.transcript_model or self.transcript_language):
            raise ValueError(
                "MEETSTREAM_TRANSCRIPT_MODEL / _LANGUAGE need MEETSTREAM_TRANSCRIPT_PROVIDER"
            )
        if self.transcript_model and self.transcript_provider not in PROVIDERS_WITH_MODEL:
            raise ValueError(
                f"the {self.transcript_provider} transcript provider documents no model: "
                "unset MEETSTREAM_TRANSCRIPT_MODEL"
            )
        return self

    def require_api_key(self) -> str:
        """Return the API key, or raise MissingApiKeyError saying what to set."""
        if self.api_key is None or not self.api_key.get_secret_value():
            raise MissingApiKeyError(
                "No MeetStream API key configured: set the MEETSTREAM_API_KEY environment "
                "variable (or a Prefect Secret block named 'meetstream-api-key' for deployments)."
            )
        return self.api_key.get_secret_value()

    def media(self) -> Root:
        """The media root (MEETSTREAM_MEDIA_ROOT) with its S3 endpoint, if any."""
        return Root.at(self.media_root, s3_endpoint_url=self.s3_endpoint_url)

    def catalog(self) -> Root:
        """The catalog root (MEETSTREAM_CATALOG_ROOT) with its S3 endpoint, if any."""
        return Root.at(self.catalog_root, s3_endpoint_url=self.s3_endpoint_url)

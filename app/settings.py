"""The service's settings: one validated class, read from ``HOTPLUG_*`` variables.

Never built at import time: ``python -m app`` builds it (command-line options
override the environment) and hands it to ``create_app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of hotplugd, with its ``HOTPLUG_`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="HOTPLUG_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    data_dir: Path = Field(
        Path("data"), description="Directory for the SQLite database and the admin token."
    )
    database_url: str | None = Field(
        None,
        description="sqlite:///PATH or postgresql://USER@HOST/DB (default: SQLite in data_dir).",
    )
    layout: Path | None = Field(
        None, description="Layout file (TOML or JSON); default: the built-in layout."
    )
    admin_token: str | None = Field(
        None,
        min_length=16,
        description="Admin token; when unset, generated on first start into data_dir.",
    )
    viewer_token: str | None = Field(None, min_length=16, description="Read-only token.")
    cancel_scope: Literal["chain", "notified"] = Field(
        "chain", description="Who gets MEM_CANCEL_*: the whole chain, or the notified prefix."
    )
    max_queue: int = Field(256, ge=1, le=100_000, description="Queued requests before 503.")
    recovery_grace_ms: int = Field(
        10_000, ge=0, le=600_000, description="Wait for subscribers to reconnect at recovery."
    )
    shutdown_grace_s: float = Field(
        10.0, ge=0, le=600, description="How long shutdown lets a running transition finish."
    )
    sync_commit: bool = Field(
        True,
        description="Flush every journal write to disk (off: survives a crash of hotplugd, "
        "not a power cut, and runs several times faster).",
    )
    history_keep: int = Field(
        100_000, ge=100, description="Finished transitions kept in the history."
    )
    event_retention: int = Field(
        10_000, ge=10, le=1_000_000, description="Events kept for ?since= replay."
    )
    observer_queue: int = Field(
        1024, ge=16, le=100_000, description="Events buffered per dashboard before it is dropped."
    )
    metrics_require_token: bool = Field(
        False, description="Require the viewer (or admin) token for /metrics."
    )
    ws_ping_interval: float = Field(20.0, gt=0, description="Websocket keepalive ping interval.")
    ws_ping_timeout: float = Field(20.0, gt=0, description="Websocket keepalive ping timeout.")
    max_body_bytes: int = Field(
        65_536, ge=1024, le=16_777_216, description="Largest accepted request body."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )

    @field_validator("admin_token", "viewer_token")
    @classmethod
    def _no_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hotplugd.sqlite3').resolve()}"

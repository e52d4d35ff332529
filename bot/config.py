"""Settings: every knob of secbot, from SECBOT_* environment variables or a .env file.

Nothing reads settings at import time: ``load_settings()`` is called by the composition
root (``bot.wiring``) or the CLI command that needs them. Secrets are ``SecretStr`` so
they never show in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import UserError

DEFAULT_DATABASE_URL = "sqlite:///secbot.db"


class Settings(BaseSettings):
    """secbot configuration; see .env.example for every variable with a safe placeholder."""

    model_config = SettingsConfigDict(
        env_prefix="SECBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy URL: SQLite file by default, postgresql+psycopg://... in prod",
    )
    auto_migrate: bool = Field(
        default=True, description="run Alembic migrations on start when the schema is behind"
    )
    timezone: str = Field(default="UTC", description="time zone for rendering dates")
    log_level: str = Field(default="WARNING")
    expiry_critical_days: int = Field(default=14, ge=1)
    expiry_warning_days: int = Field(default=30, ge=1)
    expiry_info_days: int = Field(default=90, ge=1)
    auto_rotate_min_hours: int = Field(default=72, ge=1)
    auto_rotate_max_hours: int = Field(default=8040, ge=1)
    max_file_mb: int = Field(default=64, ge=1, description="largest single file read from input")
    max_bundle_mb: int = Field(default=2048, ge=1, description="most a bundle may inflate to")
    clusters_file: Path | None = Field(default=None, description="YAML list of clusters")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from None
        return value


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and .env; bad values become one UserError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        first = e.errors()[0]
        name = "SECBOT_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise UserError(f"{name}: {first['msg']}; fix the variable or .env and retry") from None

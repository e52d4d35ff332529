"""Settings: every knob of secbot, from SECBOT_* environment variables or a .env file.

Nothing reads settings at import time: ``load_settings()`` is called by the composition
root (``bot.wiring``) or the CLI command that needs them. Secrets are ``SecretStr`` so
they never show in a repr or a log line.

A ``.env`` that cannot be read (or a working directory that cannot be searched: the node
agent runs as uid 0 without capabilities in a WORKDIR owned by another user) is skipped,
never fatal: the settings then come from the environment alone, and ``env_file_skipped``
says why, for a DEBUG line once logging is set up (``bot.wiring.settings_for_command``).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.durations import parse_duration
from bot.errors import UserError

DEFAULT_DATABASE_URL = "sqlite:///secbot.db"
DEFAULT_AGENT_NAMESPACE = "secbot-agent"  # = bot.sources.live_agent.DEFAULT_AGENT_NAMESPACE
MIN_AUDIT_KEY = 32


class Settings(BaseSettings):
    """secbot configuration; see .env.example for every variable with a safe placeholder."""

    model_config = SettingsConfigDict(
        env_prefix="SECBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )
    _env_file_skipped: str | None = PrivateAttr(default=None)

    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy URL: SQLite file by default, postgresql+psycopg://... in prod",
    )
    auto_migrate: bool = Field(
        default=True, description="run Alembic migrations on start when the schema is behind"
    )
    timezone: str = Field(default="UTC", description="time zone for rendering dates")
    log_level: str = Field(default="WARNING")
    log_format: str = Field(
        default="text", pattern=r"^(text|json)$", description="text, or json: one object a line"
    )
    expiry_critical_days: int = Field(default=14, ge=1)
    expiry_warning_days: int = Field(default=30, ge=1)
    expiry_info_days: int = Field(default=90, ge=1)
    auto_rotate_min_hours: int = Field(default=72, ge=1)
    auto_rotate_max_hours: int = Field(default=8040, ge=1)
    max_file_mb: int = Field(default=64, ge=1, description="largest single file read from input")
    max_bundle_mb: int = Field(default=2048, ge=1, description="most a bundle may inflate to")
    clusters_file: Path | None = Field(default=None, description="YAML list of clusters")
    scan_concurrency: int = Field(default=8, ge=1, le=256, description="clusters scanned at once")
    scan_processes: int = Field(
        default=1, ge=1, le=16, description="worker processes for fleet scans (CPU-bound fleets)"
    )
    kube_connect_timeout: float = Field(default=5.0, gt=0, description="seconds per API connect")
    kube_read_timeout: float = Field(default=30.0, gt=0, description="seconds per API response")
    kube_retries: int = Field(default=1, ge=0, le=10, description="retries of idempotent reads")
    probe_enabled: bool = Field(default=True, description="TLS-probe apiserver, kubelet, VIP")
    probe_timeout: float = Field(default=3.0, gt=0, description="seconds per TLS handshake")

    # Slack. The SLACK_* names are Slack's own conventions (and Bolt's); SECBOT_* work too.
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "SECBOT_SLACK_BOT_TOKEN")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "SECBOT_SLACK_APP_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "SECBOT_SLACK_SIGNING_SECRET"),
    )
    slack_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_API_URL", "SECBOT_SLACK_API_URL")
    )
    http_port: int = Field(default=3000, ge=1, le=65535, description="HTTP mode listener port")
    health_port: int = Field(
        default=8081, ge=0, le=65535, description="/healthz, /readyz, /metrics (0: off)"
    )
    operators: str = Field(
        default="", description="comma-separated Slack user ids (U…/W…) and user-group ids (S…)"
    )
    slash_command: str = Field(default="/harvester", pattern=r"^/[a-z0-9_-]{1,31}$")
    worker_threads: int = Field(default=4, ge=1, le=64, description="slow Slack work pool")
    rotation_max_age_days: int = Field(default=180, ge=1, description="credential rotation policy")
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        description="key that seals every audit record with an HMAC (at least 32 characters)",
    )

    # Scheduler and notifications (``secbot serve``).
    alert_channel: str | None = Field(
        default=None, description="channel for critical/warning alerts: #name or C… id"
    )
    digest_channel: str | None = Field(
        default=None, description="channel for the daily digest (default: the alert channel)"
    )
    digest_at: str = Field(default="09:00", description="HH:MM in SECBOT_TIMEZONE")
    digest_grace: str = Field(default="6h", description="a missed digest is still sent this late")
    scan_interval: str = Field(default="6h", description="how often every cluster is scanned")
    outbox_interval_seconds: int = Field(default=5, ge=1, le=300, description="dispatcher tick")
    outbox_max_attempts: int = Field(
        default=8, ge=1, le=100, description="then dead-letter (Slack failing: not within 24 h)"
    )
    approvers: str = Field(
        default="",
        description="who may approve remediations: Slack user ids and user-group ids; "
        "empty: remediation is off",
    )
    approval_channel: str | None = Field(
        default=None, description="where plans wait for approval (default: the alert channel)"
    )
    remediation_ttl: str = Field(default="1h", description="an unapproved request expires")
    console: bool = Field(
        default=False,
        description="print messages instead of posting them, also on PostgreSQL",
    )
    leader: str = Field(
        default="auto",
        pattern=r"^(auto|none|postgres|kubernetes)$",
        description="leader election: auto (PostgreSQL lock on PostgreSQL, none on SQLite)",
    )
    leader_lease: str = Field(
        default="secbot/secbot-leader", description="namespace/name of the Kubernetes Lease"
    )
    leader_cluster: str | None = Field(
        default=None,
        description="clusters-file entry whose API holds the Lease (default: in-cluster)",
    )
    agent_namespace: str = Field(
        default=DEFAULT_AGENT_NAMESPACE,
        description="namespace where `secbot agent` publishes the node PKI inventories "
        "(ConfigMaps); the live scan lists them there",
    )

    @property
    def env_file_skipped(self) -> str | None:
        """Why the .env file was not read (None: read, or there was none)."""
        return self._env_file_skipped

    @property
    def scan_interval_delta(self) -> timedelta:
        return parse_duration(self.scan_interval)

    @property
    def digest_grace_delta(self) -> timedelta:
        return parse_duration(self.digest_grace)

    @property
    def digest_time(self) -> tuple[int, int]:
        """SECBOT_DIGEST_AT as (hour, minute)."""
        hour, minute = self.digest_at.split(":")
        return int(hour), int(minute)

    @field_validator("scan_interval", "digest_grace", "remediation_ttl")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # ValueError names the expected form
        return value.strip()

    @field_validator("digest_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a time of day like 09:00 (24-hour HH:MM)")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("alert_channel", "digest_channel", "approval_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.fullmatch(r"#[a-z0-9_-][a-z0-9_.-]{0,79}|[CG][A-Z0-9]{8,20}", value):
            raise ValueError(f"{value!r} must be '#channel-name' or a channel id (C…)")
        return value

    @field_validator("audit_hmac_key", mode="before")
    @classmethod
    def _hmac_key(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or (isinstance(text, str) and not text.strip()):
            return None  # empty means unset, as in .env.example
        if isinstance(text, str) and len(text) < MIN_AUDIT_KEY:
            # The key itself is never echoed: only its length.
            raise ValueError(
                f"must be at least {MIN_AUDIT_KEY} characters (this one has {len(text)}); "
                "generate one with: openssl rand -hex 32"
            )
        return value

    @property
    def audit_hmac_key_bytes(self) -> bytes | None:
        """SECBOT_AUDIT_HMAC_KEY as bytes (UTF-8), or None when unset."""
        key = self.audit_hmac_key
        return None if key is None else key.get_secret_value().encode("utf-8")

    @field_validator("leader_lease")
    @classmethod
    def _lease(cls, value: str) -> str:
        if not re.fullmatch(
            r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", value
        ):
            raise ValueError(f"{value!r} must be namespace/name of a Lease")
        return value

    @field_validator("agent_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", value.strip()):
            raise ValueError(f"{value!r} is not a namespace name (lower-case letters, digits, -)")
        return value.strip()

    @property
    def approver_ids(self) -> tuple[str, ...]:
        """SECBOT_APPROVERS split into ids; empty means remediation is off."""
        return tuple(p.strip() for p in self.approvers.split(",") if p.strip())

    @property
    def remediation_ttl_delta(self) -> timedelta:
        return parse_duration(self.remediation_ttl)

    @property
    def operator_ids(self) -> tuple[str, ...]:
        """SECBOT_OPERATORS split into ids (validated: U…, W… users, S… user groups)."""
        return tuple(p.strip() for p in self.operators.split(",") if p.strip())

    @field_validator("operators", "approvers")
    @classmethod
    def _slack_ids(cls, value: str) -> str:
        for part in (p.strip() for p in value.split(",")):
            if part and not re.fullmatch(r"[UWS][A-Z0-9]{2,20}", part):
                raise ValueError(
                    f"{part!r} is not a Slack user id (U…/W…) or user-group id (S…); "
                    "display names are not accepted"
                )
        return value

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
    """Read settings from the environment and .env; bad values become one UserError line.
    A .env that cannot be read is skipped (module docstring)."""
    try:
        try:
            return Settings(**overrides)  # type: ignore[arg-type]
        except OSError as e:  # only the .env reading does I/O here
            settings = Settings(**{**overrides, "_env_file": None})  # type: ignore[arg-type]
            settings._env_file_skipped = _why_skipped(e, overrides.get("_env_file", ".env"))
            return settings
    except UnicodeDecodeError:
        raise UserError(
            "the .env file is not UTF-8 text; fix or remove it (or set the variables in "
            "the environment) and retry"
        ) from None
    except ValidationError as e:
        first = e.errors()[0]
        field_name = str(first["loc"][0]) if first["loc"] else ""
        name = (
            field_name.upper()
            if field_name.startswith(("SLACK_", "SECBOT_"))
            else ("SECBOT_" + field_name.upper() if field_name else "settings")
        )
        raise UserError(f"{name}: {first['msg']}; fix the variable or .env and retry") from None


def _why_skipped(error: OSError, env_file: object) -> str:
    named = error.filename if error.filename is not None else env_file
    where = os.fsdecode(named) if isinstance(named, str | bytes | os.PathLike) else ".env"
    why = error.strerror or type(error).__name__
    return f"cannot read the env file {where!r} ({why}); using the environment only"

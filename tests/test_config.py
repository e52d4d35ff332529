"""Settings: .env.example documents every variable and loads as it stands; scheduler
settings are validated into one clear line."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import UserError

REPO = Path(__file__).resolve().parent.parent


def _names(field: str) -> set[str]:
    info = Settings.model_fields[field]
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return {str(c) for c in choices}
    return {f"SECBOT_{field.upper()}"}


def test_env_example_lists_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    missing = [f for f in Settings.model_fields if not (_names(f) & listed)]
    assert missing == []


def test_env_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the .env reader looks in the working directory
    settings = Settings(_env_file=REPO / ".env.example")  # type: ignore[call-arg]
    assert settings.alert_channel is None  # empty means unset
    assert settings.scan_interval_delta == timedelta(hours=6)
    assert settings.digest_time == (9, 0)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SECBOT_SCAN_INTERVAL", "6 hours", "is not a duration like 90s, 15m, 6h, 7d or 2w"),
        ("SECBOT_DIGEST_AT", "25:00", "is not a time of day like 09:00"),
        ("SECBOT_ALERT_CHANNEL", "alerts", "must be '#channel-name' or a channel id"),
        ("SECBOT_LEADER", "zookeeper", "String should match pattern"),
        ("SECBOT_LEADER_LEASE", "no-slash", "must be namespace/name of a Lease"),
    ],
)
def test_bad_scheduler_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UserError) as e:
        load_settings()
    assert str(e.value).startswith(f"{variable}: ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_digest_at_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECBOT_DIGEST_AT", "7:05")
    assert load_settings().digest_at == "07:05"

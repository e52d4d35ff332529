"""Shared test fixtures: a clean environment and the PostgreSQL switch."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG_ENV = "SECBOT_TEST_DATABASE_URL"


@pytest.fixture(autouse=True)
def _clean_secbot_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No SECBOT_* variable or .env from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("SECBOT_", "SLACK_")) and name != PG_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield

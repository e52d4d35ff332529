"""The JSON round trip every outbox payload shares (bot.notify.payloads and
bot.notify.digest_payloads): payloads are frozen dataclasses, stored as the fields
``asdict`` gives with times as ISO 8601 strings (``jsonable``), and rebuilt field by
field with times parsed and severities typed (``load``).

A module of its own, below both payload modules, so that neither has to import the
other for these helpers. Changing what these functions write changes the JSON of every
row already in the outbox: keep them stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from bot.core.severity import Severity

# Field names that hold a time, whichever payload they are in; ``load`` parses them.
TIME_FIELDS = frozenset({"at", "expires_at", "not_after", "since", "now", "until"})

_T = TypeVar("_T")


def parse_time(value: Any) -> datetime:
    """An aware time from its ISO string; a naive one is refused (payloads are UTC)."""
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"naive time {value!r} in a payload")
    return parsed


def parse_opt_time(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


def jsonable(value: Any) -> Any:
    """``value`` (an ``asdict`` result) with times as ISO strings and tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def load(kind: type[_T], doc: Mapping[str, Any]) -> _T:
    """A flat payload dataclass from JSON: times parsed, severities typed, lists as
    tuples; a field missing from ``doc`` takes its default (older rows lack newer fields)."""
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        if f.name not in doc:
            continue
        value = doc[f.name]
        if f.name in TIME_FIELDS and value is not None:
            value = parse_time(value)
        elif f.name == "severity":
            value = Severity(value)
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return kind(**values)

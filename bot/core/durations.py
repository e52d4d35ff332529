"""Durations as people write them in settings and files: ``90s``, ``15m``, ``6h``, ``7d``,
``2w`` (one number, one unit). Pure; used by the settings, the clusters file and the
scheduler."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"\s*([0-9]{1,7})\s*([smhdw])\s*", re.IGNORECASE)
_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_duration(text: str) -> timedelta:
    """``"6h"`` -> 6 hours; ValueError (naming the expected form) for anything else."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 6h, 7d or 2w")
    value = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if value <= timedelta(0):
        raise ValueError(f"{text!r}: the duration must be longer than zero")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact form: 6h, 90s, 2w, 1d."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = int(_UNITS[unit].total_seconds())
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

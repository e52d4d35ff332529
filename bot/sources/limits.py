"""Size limits that protect the scanner from hostile or broken input."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds for what one scan reads."""

    max_file_bytes: int = 64 * MiB  # one YAML/JSON/PEM file, or one archive member
    max_total_bytes: int = 2048 * MiB  # everything an archive inflates to
    max_entries: int = 200_000  # members of one archive
    max_ratio: int = 200  # compressed -> inflated ratio of one member (zip bombs)
    max_log_bytes: int = 16 * MiB  # tail of a node journal that is kept


DEFAULT_LIMITS = Limits()

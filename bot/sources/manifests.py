"""Source: plain ``kubectl get ... -o yaml|json`` output on disk.

Files may hold a ``kind: List``, several YAML documents, or one JSON object; folders are
walked recursively for ``.yaml``, ``.yml`` and ``.json`` files. A file that cannot be read
(malformed, too large, unreadable, not text) becomes a coverage gap naming it; the other
files are still used. A path that does not exist, or a folder without manifests, is an
InputError: there is nothing to scan.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from bot.core.snapshot import CoverageStatus, Snapshot
from bot.errors import InputError
from bot.sources import objects
from bot.sources.builder import SnapshotBuilder
from bot.sources.limits import DEFAULT_LIMITS, Limits
from bot.sources.yamlsafe import DocumentError, load_documents

SUFFIXES = (".yaml", ".yml", ".json")
SUBJECTS = ("settings", "nodes", "events", "secrets", "webhooks", "rancher-settings")


def _walk(folder: Path, unlisted: dict[str, str]) -> list[Path]:
    """Manifest files under ``folder``; folders that cannot be listed go to ``unlisted``."""

    def error(e: OSError) -> None:
        unlisted[str(e.filename or folder)] = f"cannot be listed: {e.strerror or e}"

    found = []
    for dirpath, _dirs, filenames in os.walk(folder, onerror=error):
        found += [Path(dirpath, f) for f in filenames if Path(f).suffix.lower() in SUFFIXES]
    return sorted(found)


def manifest_files(paths: Iterable[Path], unlisted: dict[str, str] | None = None) -> list[Path]:
    """Expand files and folders into the list of manifest files; InputError if none."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(str(path), "no such file or folder")
        if path.is_dir():
            found = _walk(path, unlisted if unlisted is not None else {})
            if not found:
                raise InputError(str(path), "folder has no .yaml, .yml or .json files")
            files.extend(found)
        else:
            files.append(path)
    return files


def _text(data: bytes) -> str:
    """Decode UTF-8 (BOM or not) or BOM-marked UTF-16, which PowerShell redirection writes."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def read_into(builder: SnapshotBuilder, name: str, data: bytes) -> None:
    """Ingest every object of one manifest text; record a coverage gap if it is malformed."""
    try:
        text = _text(data)
    except UnicodeDecodeError:
        builder.cover(f"file:{name}", CoverageStatus.ERROR, "not UTF-8 text")
        return
    try:
        for doc in load_documents(text):
            if doc is None:
                continue
            objects.ingest(builder, doc)
    except (DocumentError, ValueError, TypeError, AttributeError) as e:
        builder.cover(f"file:{name}", CoverageStatus.ERROR, str(e)[:200] or type(e).__name__)


def _read_file(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file; ValueError/OSError say why not."""
    if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the scan forever
        raise ValueError("not a regular file")
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise ValueError(f"{max(size, len(data))} bytes is over the {limit}-byte limit")
    return data


def read_manifests(
    paths: Iterable[Path],
    *,
    cluster: str,
    scanned_at: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> Snapshot:
    """Read manifest files and folders into one Snapshot."""
    paths = list(paths)
    unlisted: dict[str, str] = {}
    files = manifest_files(paths, unlisted)
    builder = SnapshotBuilder(
        cluster=cluster,
        source="manifests",
        origin=", ".join(str(p) for p in paths),
        scanned_at=scanned_at,
    )
    for folder, reason in unlisted.items():
        builder.cover(f"file:{folder}", CoverageStatus.ERROR, reason)
    for file in files:
        try:
            data = _read_file(file, limits.max_file_bytes)
        except ValueError as e:
            builder.cover(f"file:{file}", CoverageStatus.ERROR, str(e))
            continue
        except OSError as e:
            builder.cover(
                f"file:{file}", CoverageStatus.ERROR, f"cannot be read: {e.strerror or e}"
            )
            continue
        read_into(builder, str(file), data)
    _finish(builder)
    return builder.build()


def _finish(builder: SnapshotBuilder) -> None:
    """Mark subjects never seen MISSING; an unreadable file may have fed any of the others."""
    bad = sorted(
        c.subject.removeprefix("file:")
        for c in builder.coverage.values()
        if c.subject.startswith("file:") and c.status == CoverageStatus.ERROR
    )
    for subject in SUBJECTS:
        if subject not in builder.coverage:
            where = "readable manifests" if bad else "manifests"
            builder.cover(subject, CoverageStatus.MISSING, f"no such objects in the {where}")
        elif bad:
            names = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
            builder.degrade(subject, f"{len(bad)} file(s) could not be read: {names}")

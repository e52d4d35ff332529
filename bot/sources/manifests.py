"""Source: plain ``kubectl get ... -o yaml|json`` output on disk.

Files may hold a ``kind: List``, several YAML documents, or one JSON object; folders are
walked recursively for ``.yaml``, ``.yml`` and ``.json`` files. A file that cannot be read
becomes a coverage gap naming it; the other files are still used.
"""

from __future__ import annotations

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


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """Expand files and folders into the list of manifest files; InputError if none."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(str(path), "no such file or folder")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise InputError(str(path), "folder has no .yaml, .yml or .json files")
            files.extend(found)
        else:
            files.append(path)
    return files


def read_into(builder: SnapshotBuilder, name: str, data: bytes) -> None:
    """Ingest every object of one manifest text; record a coverage gap if it is malformed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        builder.cover(f"file:{name}", CoverageStatus.ERROR, "not UTF-8 text")
        return
    try:
        for doc in load_documents(text):
            if doc is None:
                continue
            objects.ingest(builder, doc)
    except (DocumentError, ValueError, TypeError, AttributeError) as e:
        builder.cover(f"file:{name}", CoverageStatus.ERROR, str(e)[:200])


def read_manifests(
    paths: Iterable[Path],
    *,
    cluster: str,
    scanned_at: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> Snapshot:
    """Read manifest files and folders into one Snapshot."""
    paths = list(paths)
    files = manifest_files(paths)
    builder = SnapshotBuilder(
        cluster=cluster, source="manifests",
        origin=", ".join(str(p) for p in paths), scanned_at=scanned_at,
    )
    for file in files:
        size = file.stat().st_size
        if size > limits.max_file_bytes:
            builder.cover(f"file:{file}", CoverageStatus.ERROR,
                          f"{size} bytes is over the {limits.max_file_bytes}-byte limit")
            continue
        read_into(builder, str(file), file.read_bytes())
    for subject in SUBJECTS:
        if subject not in builder.coverage:
            builder.cover(subject, CoverageStatus.MISSING, "no such objects in the manifests")
    return builder.build()

"""``SnapshotBuilder`` coverage notes: ``cover`` and ``degrade`` join the details of one
subject with "; " (unchanged up to MAX_NOTES notes), then only count the rest, so a note
per object (100,000 Secrets) costs linear time and a short detail."""

from __future__ import annotations

from bot.core.snapshot import CoverageItem, CoverageStatus
from bot.sources.builder import MAX_NOTES, SnapshotBuilder
from tests.sources import NOW

PARTIAL, ERROR = CoverageStatus.PARTIAL, CoverageStatus.ERROR


def builder() -> SnapshotBuilder:
    return SnapshotBuilder(cluster="c", source="manifests", origin="", scanned_at=NOW)


def test_few_notes_are_joined_as_before() -> None:
    b = builder()
    b.cover("secrets", CoverageStatus.READ)
    for i in range(3):
        b.degrade("secrets", f"ns/s{i} tls.key: no private key found")
    b.cover("file:a", ERROR, "bad")
    b.cover("file:a", ERROR, "worse")
    b.cover("file:a", CoverageStatus.READ, "fine")  # never overwrites a worse status
    assert b.coverage["secrets"] == CoverageItem(
        "secrets",
        PARTIAL,
        "ns/s0 tls.key: no private key found; ns/s1 tls.key: no private key found; "
        "ns/s2 tls.key: no private key found",
    )
    assert b.coverage["file:a"] == CoverageItem("file:a", ERROR, "bad; worse")


def test_many_notes_keep_the_first_and_count_the_rest() -> None:
    b = builder()
    for i in range(MAX_NOTES + 5):
        b.degrade("secrets", f"n{i}")
    first = "; ".join(f"n{i}" for i in range(MAX_NOTES))
    assert b.coverage["secrets"].detail == f"{first}; and 5 more"
    assert b.build().coverage_of("secrets").detail == f"{first}; and 5 more"


def test_a_new_detail_starts_a_new_count() -> None:
    b = builder()
    for i in range(MAX_NOTES + 2):
        b.cover("nodes", PARTIAL, f"p{i}")
    b.cover("nodes", ERROR, "unreadable")  # a worse status replaces the notes
    b.cover("nodes", ERROR, "again")
    assert b.coverage["nodes"].detail == "unreadable; again"


def test_a_note_per_object_costs_linear_time() -> None:
    """200,000 notes: with one ever longer detail rebuilt per note (about 4 MB at the end)
    this copied hundreds of gigabytes; now each note costs a short string."""
    b = builder()
    b.cover("secrets", CoverageStatus.READ)
    n = 200_000
    for i in range(n):
        b.degrade("secrets", f"ns/secret-{i} tls.key: no private key found")
    detail = b.coverage["secrets"].detail
    assert detail.endswith(f"; and {n - MAX_NOTES} more")
    assert detail.count("no private key found") == MAX_NOTES

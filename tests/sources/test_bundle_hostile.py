"""Hostile and broken support bundles: every one is an InputError naming the file, or a gap.

Aspects: escaping entry names, zip bombs, archives over the total limit, lying declared
sizes, corrupt or truncated zips, YAML bombs, malformed and oversized members, bad node
archives; fuzzed zips never raise anything but InputError.
"""

from __future__ import annotations

import os
import struct
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.errors import InputError
from bot.sources.bundle import read_bundle
from bot.sources.limits import Limits
from tests.sources.conftest import (
    NODES,
    SETTINGS,
    as_list,
    bundle_files,
    setting,
    write_zip,
    zip_bytes,
)

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETTINGS_FILE = f"file:{SETTINGS}"


def read(path: Path, *, limits: Limits | None = None, cluster: str | None = None) -> Snapshot:
    return read_bundle(path, scanned_at=NOW, cluster=cluster, limits=limits or Limits())


def cov(snap: Snapshot, subject: str) -> CoverageItem:
    return snap.coverage_of(subject)


@pytest.mark.parametrize(
    "name", ["../x", "top/../../x", "/etc/passwd", "C:/Windows/x", "top\\..\\x", "top/a/../../../x"]
)
def test_entries_escaping_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    files = {f"top/{k}": v for k, v in bundle_files().items()} | {name: "boom"}
    path = tmp_path / "b.zip"
    path.write_bytes(zip_bytes(files))
    with pytest.raises(InputError) as err:
        read(path)
    assert str(err.value) == (
        f"{path}: archive entry {name!r} escapes the bundle folder; refusing to read it"
    )


def test_a_zip_bomb_member_is_refused_before_reading(tmp_path: Path) -> None:
    files = bundle_files() | {"logs/huge.log": b"\0" * (2 * 1024 * 1024)}
    path = write_zip(tmp_path / "b.zip", files, top="")
    packed = {i.filename: i for i in zipfile.ZipFile(path).infolist()}["logs/huge.log"]
    with pytest.raises(InputError) as err:
        read(path)
    assert str(err.value) == (
        f"{path}: archive entry 'logs/huge.log' inflates to 2097152 bytes from "
        f"{packed.compress_size}, over the 200:1 ratio limit (a zip bomb?); refusing to read it"
    )


def test_an_archive_over_the_total_limit_is_refused(tmp_path: Path) -> None:
    files = bundle_files()
    path = write_zip(tmp_path / "b.zip", files)
    total = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    with pytest.raises(InputError) as err:
        read(path, limits=Limits(max_total_bytes=total - 1))
    assert str(err.value) == f"{path}: inflates to {total} bytes, over the {total - 1}-byte limit"


def test_a_lying_declared_size_is_caught_while_reading(tmp_path: Path) -> None:
    big = "- " + "a" * (3 * 1024 * 1024) + "\n"
    raw = bytearray(zip_bytes({NODES: big}))
    for sig, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # uncompressed size fields
        struct.pack_into("<I", raw, raw.find(sig) + offset, 100)
    path = tmp_path / "b.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError) as err:
        read(path)
    assert str(err.value) == (
        f"{path}: archive entry '{NODES}' is corrupt: Bad CRC-32 for file '{NODES}'"
    )


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "member"])
def test_corrupt_zips_name_the_file(tmp_path: Path, damage: str) -> None:
    good = zip_bytes({k: v for k, v in bundle_files().items() if k == NODES})
    data = {
        "truncated": good[: len(good) // 2],
        "random": os.urandom(4096),
        "empty": b"",
        "member": good.replace(b"node-1", b"node-X", 1),
    }[damage]
    if damage == "member":  # flip compressed bytes of the one member, keep the directory
        start = 30 + len(NODES)
        data = good[:start] + bytes(b ^ 0x5A for b in good[start : start + 40]) + good[start + 40 :]
    path = tmp_path / "b.zip"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    if damage == "member":
        assert message.startswith(f"{path}: archive entry '{NODES}' is corrupt: ")
    else:
        assert message == f"{path}: not a readable zip archive (File is not a zip file)"


def test_missing_paths_and_non_bundles_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.zip: no such file or folder$"):
        read(tmp_path / "nope.zip")
    path = tmp_path / "b.zip"
    path.write_bytes(zip_bytes({"README.md": "hello"}))
    with pytest.raises(InputError) as err:
        read(path)
    assert str(err.value) == (
        f"{path}: is not a Harvester support bundle: no yamls/ or nodes/ folder and no "
        "metadata.yaml (reference/harvester.md §4)"
    )


def bad_settings(tmp_path: Path, content: str | bytes, limits: Limits | None = None) -> Snapshot:
    files = bundle_files() | {SETTINGS: content}
    return read(write_zip(tmp_path / "b.zip", files), limits=limits)


def test_a_yaml_bomb_is_a_coverage_gap_and_fast(tmp_path: Path) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 40)]
    started = time.monotonic()
    snap = bad_settings(tmp_path, "\n".join(lines))
    assert time.monotonic() - started < 2
    reason = "YAML aliases are not allowed (Kubernetes output never uses them)"
    assert cov(snap, SETTINGS_FILE) == CoverageItem(SETTINGS_FILE, CoverageStatus.ERROR, reason)
    assert cov(snap, "settings") == CoverageItem(
        "settings", CoverageStatus.ERROR, f"{SETTINGS}: {reason}"
    )
    assert not snap.setting_coverage("http-proxy").usable


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary", "not UTF-8 text"),
        ("kind: List\nitems: {a: 1}\n", "List.items is not a list"),
        ("- just\n- a list\n", "expected a Kubernetes object, got list"),
        (
            "kind: List\nitems:\n- kind: Setting\n  apiVersion: harvesterhci.io/v1beta1\n",
            "Setting without metadata.name",
        ),
        (
            "key: [unclosed\n",
            "not valid YAML at line 2: did not find expected ',' or ']'",
        ),
    ],
)
def test_malformed_settings_are_a_gap_naming_the_file(
    tmp_path: Path, content: str | bytes, reason: str
) -> None:
    snap = bad_settings(tmp_path, content)
    assert cov(snap, SETTINGS_FILE) == CoverageItem(SETTINGS_FILE, CoverageStatus.ERROR, reason)
    assert cov(snap, "settings").status == CoverageStatus.ERROR
    assert not snap.setting_coverage("ssl-parameters").usable


def test_a_file_over_the_size_limit_is_a_gap(tmp_path: Path) -> None:
    content = as_list("harvesterhci.io/v1beta1", "Setting", [setting("log-level", "x" * 5000)])
    snap = bad_settings(tmp_path, content, limits=Limits(max_file_bytes=4000))
    size = len(content.encode())
    assert cov(snap, SETTINGS_FILE).detail == f"{size} bytes is over the 4000-byte limit"
    assert cov(snap, "settings").status == CoverageStatus.ERROR


def test_bad_node_archives_are_gaps_only(tmp_path: Path) -> None:
    files = bundle_files() | {
        "nodes/junk.zip": os.urandom(300),
        "nodes/evil.zip": zip_bytes({"../../etc/cron.d/x": "* * * * * root sh"}),
    }
    snap = read(write_zip(tmp_path / "b.zip", files))
    assert cov(snap, "file:nodes/junk.zip") == CoverageItem(
        "file:nodes/junk.zip",
        CoverageStatus.ERROR,
        "not a readable zip archive (File is not a zip file)",
    )
    assert cov(snap, "file:nodes/evil.zip").detail == (
        "archive entry '../../etc/cron.d/x' escapes the bundle folder; refusing to read it"
    )
    item = cov(snap, "node-files")
    assert item.status == CoverageStatus.PARTIAL and item.usable
    assert item.detail.startswith("nodes/evil.zip: archive entry '../../etc/cron.d/x'")
    assert {f.node for f in snap.node_files} == {"node-0", "node-1"}
    per_node = {c.subject: c.status for c in snap.coverage if c.subject.startswith("node-files:")}
    assert per_node == {
        "node-files:evil": CoverageStatus.ERROR,
        "node-files:junk": CoverageStatus.ERROR,
        "node-files:node-0": CoverageStatus.READ,
        "node-files:node-1": CoverageStatus.READ,
    }


def test_all_node_archives_bad_is_an_error(tmp_path: Path) -> None:
    files = {k: v for k, v in bundle_files().items() if not k.startswith("nodes/")}
    snap = read(write_zip(tmp_path / "b.zip", files | {"nodes/n.zip": b"PK"}))
    assert cov(snap, "node-files") == CoverageItem(
        "node-files",
        CoverageStatus.ERROR,
        "nodes/n.zip: not a readable zip archive (File is not a zip file)",
    )
    assert cov(snap, "node-files:n") == CoverageItem(
        "node-files:n",
        CoverageStatus.ERROR,
        "nodes/n.zip: not a readable zip archive (File is not a zip file)",
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=8))
def test_damaged_zips_never_crash(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(zip_bytes(bundle_files(), prefix="top/"))
    for at, xor in flips:
        data[at % len(data)] ^= xor
    path = tmp_path / "fuzz.zip"
    path.write_bytes(bytes(data))
    try:
        snap = read(path)
    except InputError as e:
        assert str(e).startswith(f"{path}: ")
    else:
        assert snap.source == "bundle"

"""The manifests source: ``kubectl get -o yaml|json`` output in files and folders.

Aspects: List, multi-document YAML and JSON read alike; folders are walked; empty files
are fine; malformed, oversized, non-text, unreadable and non-regular files are coverage
gaps naming the file (and make the other subjects PARTIAL); a missing path is an
InputError.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.core.snapshot import CoverageItem, CoverageStatus, Setting, Snapshot
from bot.errors import InputError
from bot.sources.limits import Limits
from bot.sources.manifests import read_manifests
from tests.sources.conftest import as_list, node, setting

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SETTING = {
    "apiVersion": "harvesterhci.io/v1beta1",
    "kind": "Setting",
    "metadata": {"name": "log-level", "resourceVersion": "3"},
    "value": "debug",
}
NODE = {"apiVersion": "v1", "kind": "Node", **node("n0", "10.0.0.5")}


def read(*paths: Path, limits: Limits | None = None) -> Snapshot:
    return read_manifests(list(paths), cluster="c", scanned_at=NOW, limits=limits or Limits())


def statuses(snap: Snapshot) -> dict[str, str]:
    return {c.subject: c.status.value for c in snap.coverage}


@pytest.mark.parametrize("shape", ["list", "multidoc", "json", "utf16"])
def test_shapes_read_alike(tmp_path: Path, shape: str) -> None:
    path = tmp_path / ("m.json" if shape == "json" else "m.yaml")
    if shape == "list":
        path.write_text(as_list("v1", "Node", [dict(NODE)]) + "---\n" + yaml.safe_dump(SETTING))
    elif shape == "multidoc":
        path.write_text(
            f"# kubectl output\n---\n{yaml.safe_dump(NODE)}---\n{yaml.safe_dump(SETTING)}"
        )
    elif shape == "json":
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [NODE, SETTING]}))
    else:  # PowerShell's `kubectl get ... > file` writes UTF-16 with a BOM
        path.write_bytes(("\ufeff" + yaml.safe_dump_all([NODE, SETTING])).encode("utf-16-le"))
    snap = read(path)
    assert snap.settings == {"log-level": Setting("log-level", "debug", None, "3")}
    assert [(n.name, n.internal_ips) for n in snap.nodes] == [("n0", ("10.0.0.5",))]
    assert statuses(snap) == {
        "events": "missing",
        "nodes": "read",
        "rancher-settings": "missing",
        "secrets": "missing",
        "setting:log-level": "read",
        "settings": "read",
        "webhooks": "missing",
    }


def test_folders_are_walked_and_empty_files_are_fine(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "settings.yml").write_text(yaml.safe_dump(SETTING))
    (tmp_path / "a" / "empty.yaml").write_text("")
    (tmp_path / "a" / "comments.yaml").write_text("# nothing here\n---\n")
    (tmp_path / "a" / "notes.txt").write_text("not: a manifest\n")
    snap = read(tmp_path / "a")
    assert list(snap.settings) == ["log-level"]
    assert not [c for c in snap.coverage if c.subject.startswith("file:")]


def test_a_malformed_file_is_a_gap_and_others_are_partial(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(SETTING))
    (tmp_path / "bad.yaml").write_text("kind: [\n")
    (tmp_path / "junk.json").write_bytes(b"\xff\xfe\xfd\x00\x01binary")
    snap = read(tmp_path)
    assert snap.coverage_of(f"file:{tmp_path / 'bad.yaml'}") == CoverageItem(
        f"file:{tmp_path / 'bad.yaml'}",
        CoverageStatus.ERROR,
        "not valid YAML at line 2: did not find expected node content",
    )
    assert snap.coverage_of(f"file:{tmp_path / 'junk.json'}").detail == "not UTF-8 text"
    assert snap.coverage_of("settings") == CoverageItem(
        "settings",
        CoverageStatus.PARTIAL,
        f"2 file(s) could not be read: {tmp_path / 'bad.yaml'}, {tmp_path / 'junk.json'}",
    )
    assert snap.coverage_of("nodes").detail == "no such objects in the readable manifests"


def test_oversized_dangling_and_special_files_are_gaps(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text(
        as_list("harvesterhci.io/v1beta1", "Setting", [setting("x", "y" * 3000)])
    )
    os.symlink(tmp_path / "gone.yaml", tmp_path / "dangling.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    snap = read(tmp_path, limits=Limits(max_file_bytes=2000))
    size = (tmp_path / "big.yaml").stat().st_size
    assert {c.subject: c.detail for c in snap.coverage if c.subject.startswith("file:")} == {
        f"file:{tmp_path / 'big.yaml'}": f"{size} bytes is over the 2000-byte limit",
        f"file:{tmp_path / 'dangling.yaml'}": "cannot be read: No such file or directory",
        f"file:{tmp_path / 'pipe.yaml'}": "not a regular file",
    }
    assert snap.settings == {}


def test_missing_paths_and_empty_folders_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read(tmp_path / "nope.yaml")
    assert str(err.value) == f"{tmp_path / 'nope.yaml'}: no such file or folder"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as err:
        read(tmp_path / "empty")
    assert str(err.value) == f"{tmp_path / 'empty'}: folder has no .yaml, .yml or .json files"


def test_a_yaml_bomb_in_a_manifest_is_a_gap(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x]"]
    lines += [
        f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 8)}]" for i in range(30)
    ]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines))
    snap = read(tmp_path / "bomb.yaml")
    assert snap.coverage_of(f"file:{tmp_path / 'bomb.yaml'}").detail == (
        "YAML aliases are not allowed (Kubernetes output never uses them)"
    )

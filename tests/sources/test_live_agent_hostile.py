"""The live source against hostile or forged inventory ConfigMaps (bot.sources.live_agent and
bot.sources.live_agent_claims), served by the fake kube-apiserver to the real client.

Aspects: no content of one ConfigMap can raise out of the scan (huge numbers, wrong types,
deep nesting, non-JSON, odd metadata): it makes that node's inventory malformed (PARTIAL,
the node named, its held files stay held) and the other nodes are read as usual; an
inventory without any certificate is incomplete whatever it says; a ConfigMap is believed
only under the agent's name for its node, with the node annotation, not dated in the
future, and only when no other ConfigMap claims the same node.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.snapshot import Snapshot
from bot.sources.pki_inventory import rfc3339
from tests.agent import Folder, inventory_configmap, rke2_folder
from tests.sources import NOW
from tests.sources.test_live_agent import NODES, file_gaps, read, verdict

HELD = ("node-0/serving-kube-apiserver.crt", "node-1/serving-kube-apiserver.crt")
NODE_1_HELD = ("error", "not re-read: its inventory ConfigMap secbot-agent/secbot-pki-node-1")


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Folder]:
    return {
        n: rke2_folder(tmp_path / n, apiserver_days=10, label=n, links=False)
        for n in ("node-0", "node-1")
    }


def configmap(folders: dict[str, Folder], node: str, **at: float) -> dict[str, Any]:
    updated = NOW - timedelta(hours=at.get("hours_ago", 1))
    return inventory_configmap(folders[node].root, node, updated=updated)


def edit(cm: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """``cm`` with its inventory document changed by ``change`` (in place)."""
    doc = json.loads(cm["data"]["inventory.json"])
    change(doc)
    cm["data"]["inventory.json"] = json.dumps(doc)
    return cm


def node_0_is_read_as_usual(snap: Snapshot) -> None:
    assert sum(c.location.name.startswith("node-0/") for c in snap.certificates) == 8
    assert "file:node-0/serving-kube-apiserver.crt" not in file_gaps(snap)


def node_1_is_not_used(snap: Snapshot) -> None:
    assert not any(c.location.name.startswith("node-1/") for c in snap.certificates)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Each makes node-1's inventory malformed (not used at all) or incomplete (its entries that
# are fine are used; files it does not list stay held).
HOSTILE: dict[str, Callable[[dict[str, Any]], object]] = {
    "huge interval": lambda d: d.update(intervalSeconds=10**15),
    "interval a day over 7d": lambda d: d.update(intervalSeconds=8 * 86400),
    "interval as text": lambda d: d.update(intervalSeconds="3600"),
    "interval as float": lambda d: d.update(intervalSeconds=1e308),
    "negative interval": lambda d: d.update(intervalSeconds=-(10**30)),
    "year 1 east of UTC": lambda d: d.update(updatedAt="0001-01-01T00:00:00+01:00"),
    "year 9999": lambda d: d.update(updatedAt="9999-12-31T23:59:59Z"),
    "updatedAt a number": lambda d: d.update(updatedAt=10**20),
    "node a number": lambda d: d.update(node=5),
    "certificates a string": lambda d: d.update(certificates="x" * 1000),
    "nested certificates": lambda d: d.update(certificates=json.loads(_nested(500))),
    "huge index": lambda d: d["certificates"][0].update(index=10**300),
    "huge count in an entry": lambda d: d["certificates"][0].update(index=10**4000),
    "problem file an object": lambda d: d.update(problems=[{"file": {"a": 1}, "reason": 5}]),
    "problem file out of the folder": lambda d: d.update(problems=[{"file": "../../etc/x"}]),
    "problem file with a newline": lambda d: d.update(problems=[{"file": "a\nb", "reason": "x"}]),
    "every entry broken": lambda d: d.update(certificates=[{"pem": None}] * 50),
}


@pytest.mark.parametrize("change", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_documents_only_cost_their_own_node(
    folders: dict[str, Folder], tmp_path: Path, change: Callable[[dict[str, Any]], object]
) -> None:
    hostile = edit(configmap(folders, "node-1"), change)
    held = (*HELD, "node-1/renewed-since.crt")
    snap, _ = read([*NODES, configmap(folders, "node-0"), hostile], tmp_path, held=held)
    status, detail = verdict(snap)
    assert status == "partial"
    assert "node-1" in detail
    node_0_is_read_as_usual(snap)
    gap = file_gaps(snap)["file:node-1/renewed-since.crt"]
    assert gap[0] == "error" and gap[1].startswith("not re-read: ")
    if "is malformed" in detail:
        node_1_is_not_used(snap)
        assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == gap
    else:
        assert "node-1: inventory entries unusable: " in detail


def test_a_huge_interval_is_a_malformed_inventory(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    hostile = edit(configmap(folders, "node-1"), lambda d: d.update(intervalSeconds=10**15))
    snap, _ = read([*NODES, configmap(folders, "node-0"), hostile], tmp_path, held=HELD)
    assert verdict(snap) == (
        "partial",
        "8 certificates from 1 node; ConfigMap secbot-agent/secbot-pki-node-1 is malformed: "
        "intervalSeconds is over 604800",
    )
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == (
        "error",
        "not re-read: its inventory ConfigMap secbot-agent/secbot-pki-node-1 is malformed",
    )


RAW: dict[str, Callable[[dict[str, Any]], object]] = {
    "not JSON": lambda cm: cm["data"].update({"inventory.json": "{not json"}),
    "deep nesting": lambda cm: cm["data"].update({"inventory.json": _nested(100_000)}),
    "a JSON string": lambda cm: cm["data"].update({"inventory.json": '"x"'}),
    "document a number": lambda cm: cm["data"].update({"inventory.json": 12345}),
    "data a list": lambda cm: cm.update(data=["inventory.json"]),
    "no data": lambda cm: cm.pop("data"),
    "annotations a list": lambda cm: cm["metadata"].update(annotations=["secbot.io/node"]),
    "annotation a number": lambda cm: cm["metadata"].update(annotations={"secbot.io/node": 1}),
}


@pytest.mark.parametrize("change", RAW.values(), ids=RAW.keys())
def test_hostile_configmaps_only_cost_their_own_node(
    folders: dict[str, Folder], tmp_path: Path, change: Callable[[dict[str, Any]], object]
) -> None:
    hostile = configmap(folders, "node-1")
    change(hostile)
    snap, _ = read([*NODES, configmap(folders, "node-0"), hostile], tmp_path, held=HELD)
    status, detail = verdict(snap)
    assert status == "partial"
    assert "ConfigMap secbot-agent/secbot-pki-node-1 is malformed: " in detail
    node_0_is_read_as_usual(snap)
    node_1_is_not_used(snap)
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"][0] == "error"


# -- an inventory without certificates -------------------------------------------------------
def test_an_empty_folder_is_incomplete_and_holds_its_files(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    empty = tmp_path / "empty-tls"
    empty.mkdir()
    published = inventory_configmap(empty, "node-1", updated=NOW)  # today's agent
    snap, _ = read([*NODES, configmap(folders, "node-0"), published], tmp_path, held=HELD)
    assert verdict(snap) == (
        "partial",
        f"8 certificates from 2 nodes; node-1: no certificate files under {empty}: "
        "is this /var/lib/rancher/rke2/server/tls?",
    )
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == (
        "error",
        f"not re-read: incomplete inventory (no certificate files under {empty}: "
        "is this /var/lib/rancher/rke2/server/tls?)",
    )


def test_no_certificate_is_incomplete_whatever_the_agent_says(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    # An agent that reports nothing wrong (an older one, or a forgery): still incomplete.
    silent = edit(configmap(folders, "node-1"), lambda d: d.update(certificates=[], problems=[]))
    snap, _ = read([*NODES, configmap(folders, "node-0"), silent], tmp_path, held=HELD)
    assert verdict(snap) == (
        "partial",
        "8 certificates from 2 nodes; node-1: the inventory has no certificate "
        "(is the agent's --pki-dir right?)",
    )
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == (
        "error",
        "not re-read: incomplete inventory (no certificate)",
    )


# -- forged inventories ------------------------------------------------------------------------
def renamed(cm: dict[str, Any], name: str) -> dict[str, Any]:
    cm["metadata"]["name"] = name
    return cm


def test_an_inventory_under_another_name_is_not_believed(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    forged = renamed(configmap(folders, "node-1"), "secbot-pki-fresh-copy")
    snap, _ = read([*NODES, configmap(folders, "node-0"), forged], tmp_path, held=HELD)
    assert verdict(snap) == (
        "partial",
        "8 certificates from 1 node; ConfigMap secbot-agent/secbot-pki-fresh-copy is "
        "malformed: the inventory of node node-1 must be named secbot-pki-node-1",
    )
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == (
        "error",
        "not re-read: its inventory ConfigMap secbot-agent/secbot-pki-fresh-copy is malformed",
    )


@pytest.mark.parametrize(
    ("annotations", "reason"),
    [
        ({}, "annotation secbot.io/node is missing"),
        (
            {"secbot.io/node": "node-0"},
            "annotation secbot.io/node is 'node-0', the document's node 'node-1'",
        ),
    ],
)
def test_the_node_annotation_must_name_the_node(
    folders: dict[str, Folder], tmp_path: Path, annotations: dict[str, str], reason: str
) -> None:
    cm = configmap(folders, "node-1")
    cm["metadata"]["annotations"] = annotations
    snap, _ = read([*NODES[:2], cm], tmp_path, held=HELD[1:])
    assert verdict(snap)[1].startswith(
        f"0 certificates from 0 nodes; ConfigMap secbot-agent/secbot-pki-node-1 is malformed: "
        f"{reason}"
    )
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"][1].startswith(NODE_1_HELD[1])


def test_an_inventory_from_the_future_is_malformed(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    ahead = NOW + timedelta(minutes=6)
    future = edit(configmap(folders, "node-1"), lambda d: d.update(updatedAt=rfc3339(ahead)))
    snap, _ = read([*NODES, configmap(folders, "node-0"), future], tmp_path, held=HELD)
    assert verdict(snap) == (
        "partial",
        "8 certificates from 1 node; ConfigMap secbot-agent/secbot-pki-node-1 is malformed: "
        "updatedAt 2026-06-01T00:06:00Z is 6 minutes after the scan time (a node clock far "
        "ahead, or not written by the agent)",
    )
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"][1].startswith(NODE_1_HELD[1])
    # A node clock a little ahead is fine.
    skewed = NOW + timedelta(minutes=4)
    near = edit(configmap(folders, "node-1"), lambda d: d.update(updatedAt=rfc3339(skewed)))
    snap, _ = read([*NODES, configmap(folders, "node-0"), near], tmp_path, held=HELD)
    assert verdict(snap) == ("read", "16 certificates from 2 nodes")


def test_two_inventories_for_one_node_make_it_unusable(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    # A newer "renewed" copy next to the agent's own: neither wins.
    real = configmap(folders, "node-1", hours_ago=2)
    renewed = rke2_folder(tmp_path / "renewed", apiserver_days=400, label="r", links=False)
    copy = renamed(inventory_configmap(renewed.root, "node-1", updated=NOW), "secbot-pki-node-1x")
    objects = [*NODES, configmap(folders, "node-0"), real, copy]
    snap, _ = read(objects, tmp_path, held=HELD)
    status, detail = verdict(snap)
    assert status == "partial"
    assert detail.split("; ")[0] == "8 certificates from 1 node"
    assert (
        "two inventories claim node node-1 (secbot-agent/secbot-pki-node-1, "
        "secbot-agent/secbot-pki-node-1x): none is used; delete the one the agent did not "
        "publish"
    ) in detail
    node_0_is_read_as_usual(snap)
    node_1_is_not_used(snap)
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == (
        "error",
        "not re-read: two inventories claim this node",
    )


def test_a_claim_by_annotation_alone_counts(folders: dict[str, Folder], tmp_path: Path) -> None:
    junk = configmap(folders, "node-0")
    junk["metadata"] |= {"name": "junk", "annotations": {"secbot.io/node": "node-1"}}
    junk["data"]["inventory.json"] = "{not json"
    objects = [*NODES, configmap(folders, "node-0"), configmap(folders, "node-1"), junk]
    snap, _ = read(objects, tmp_path, held=HELD)
    detail = verdict(snap)[1]
    assert "two inventories claim node node-1 (secbot-agent/junk, " in detail
    assert "ConfigMap secbot-agent/junk (node node-1) is malformed: not JSON" in detail
    node_0_is_read_as_usual(snap)
    assert file_gaps(snap)["file:node-1/serving-kube-apiserver.crt"] == (
        "error",
        "not re-read: two inventories claim this node",
    )

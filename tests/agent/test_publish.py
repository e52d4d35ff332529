"""bot.agent.publish against the fake kube-apiserver with the real KubeClient: the ConfigMap
is created, then replaced in place (same object, new resourceVersion); a concurrent write
is retried once; refusals surface as KubeErrors; a document too big is not sent at all;
ConfigMap names stay valid DNS-1123 labels."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent import publish as publish_module
from bot.agent.publish import MAX_DOCUMENT_BYTES, DocumentTooLarge, configmap, publish
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import KubeConflict, KubeForbidden
from bot.sources.live_agent_claims import Read, read_claims
from bot.sources.pki_inventory import build_inventory, configmap_name
from tests.agent import Folder, rke2_folder
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW, at

FAST = Timeouts(connect=2, read=5, retries=0)
CM = "/api/v1/namespaces/secbot/configmaps"


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as fake:
        yield fake
    assert fake.server_errors == []


@pytest.fixture
def client(api: FakeKubeAPI, tmp_path: Path) -> Iterator[KubeClient]:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    with KubeClient.connect(KubeTarget(name="agent", kubeconfig=path), timeouts=FAST) as kc:
        yield kc


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return rke2_folder(tmp_path)


def doc(folder: Folder, *, days: float = 0) -> dict[str, Any]:
    return build_inventory(folder.root, node="node-1", now=at(days), interval_seconds=3600)


def stored(api: FakeKubeAPI) -> dict[str, Any]:
    obj = api.get("v1", "ConfigMap", "secbot-pki-node-1", "secbot")
    assert obj is not None
    return obj


def test_create_then_replace_the_same_configmap(
    api: FakeKubeAPI, client: KubeClient, folder: Folder
) -> None:
    first = publish(client, namespace="secbot", document=doc(folder))
    made = stored(api)
    assert (first.created, first.name, first.resource_version) == (
        True,
        "secbot-pki-node-1",
        made["metadata"]["resourceVersion"],
    )
    assert made["metadata"]["labels"] == {
        "app.kubernetes.io/name": "secbot",
        "app.kubernetes.io/component": "pki-inventory",
    }
    assert made["metadata"]["annotations"] == {"secbot.io/node": "node-1"}
    assert json.loads(made["data"]["inventory.json"]) == doc(folder)
    assert (first.certificates, first.problems) == (8, 1)

    second = publish(client, namespace="secbot", document=doc(folder, days=1))
    again = stored(api)
    assert second.created is False
    assert again["metadata"]["uid"] == made["metadata"]["uid"]  # replaced, not recreated
    assert second.resource_version == again["metadata"]["resourceVersion"]
    assert second.resource_version != first.resource_version
    assert json.loads(again["data"]["inventory.json"])["updatedAt"] == "2026-06-02T00:00:00Z"
    puts = api.requests_to(f"{CM}/secbot-pki-node-1", "PUT")
    assert len(puts) == 1 and puts[0].query["fieldManager"] == ["secbot-agent"]


def test_nothing_secret_reaches_the_configmap(
    api: FakeKubeAPI, client: KubeClient, folder: Folder
) -> None:
    publish(client, namespace="secbot", document=doc(folder))
    text = json.dumps(stored(api))
    assert "PRIVATE KEY" not in text
    for fragment in folder.key_fragments():
        assert fragment not in text


def test_a_concurrent_write_is_retried_once(
    api: FakeKubeAPI, client: KubeClient, folder: Folder
) -> None:
    publish(client, namespace="secbot", document=doc(folder))
    api.fail(f"{CM}/secbot-pki-node-1", 409, times=1, method="PUT")
    published = publish(client, namespace="secbot", document=doc(folder, days=1))
    assert published.resource_version == stored(api)["metadata"]["resourceVersion"]
    assert len(api.requests_to(f"{CM}/secbot-pki-node-1", "PUT")) == 2
    api.fail(f"{CM}/secbot-pki-node-1", 409, times=2, method="PUT")
    with pytest.raises(KubeConflict):
        publish(client, namespace="secbot", document=doc(folder, days=2))
    assert json.loads(stored(api)["data"]["inventory.json"])["updatedAt"] == (
        "2026-06-02T00:00:00Z"
    )


def test_deleted_between_create_and_get_is_created_again(
    api: FakeKubeAPI, client: KubeClient, folder: Folder
) -> None:
    publish(client, namespace="secbot", document=doc(folder))
    assert api.remove("v1", "ConfigMap", "secbot-pki-node-1", "secbot")
    api.fail(CM, 409, times=1, method="POST")  # the create raced with the deletion
    published = publish(client, namespace="secbot", document=doc(folder))
    assert published.resource_version == stored(api)["metadata"]["resourceVersion"]
    assert [r.method for r in api.requests_to(CM)][-3:] == ["POST", "GET", "POST"]


def test_refusal_is_a_kube_error(api: FakeKubeAPI, client: KubeClient, folder: Folder) -> None:
    api.deny(verb="create", resource="configmaps", namespace="secbot")
    with pytest.raises(KubeForbidden) as info:
        publish(client, namespace="secbot", document=doc(folder))
    assert 'cannot create resource "configmaps"' in str(info.value)


def test_too_large_is_not_sent(api: FakeKubeAPI, client: KubeClient) -> None:
    big = {"node": "node-1", "certificates": [{"pem": "A" * 1024}] * 1000, "problems": []}
    with pytest.raises(DocumentTooLarge) as info:
        publish(client, namespace="secbot", document=big)
    assert str(info.value).startswith(
        f"the inventory is 1010 KiB, over the {MAX_DOCUMENT_BYTES // 1024} KiB"
    )
    assert api.requests_to(CM) == []
    fits = {"node": "node-1", "certificates": [{"pem": "A" * 1024}] * 800, "problems": []}
    assert configmap(fits, namespace="secbot")["metadata"]["name"] == "secbot-pki-node-1"


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("harvester-node-0", "secbot-pki-harvester-node-0"),
        ("node.example.com", "secbot-pki-node.example.com"),
    ],
)
def test_configmap_names(node: str, expected: str) -> None:
    assert configmap_name(node) == expected


def test_long_or_odd_node_names_get_a_hash() -> None:
    long = "n" * 80
    odd = "Node_One"
    names = [configmap_name(n) for n in (long, long + "x", odd, "node-one")]
    label = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?")
    assert all(label.fullmatch(n) for n in names), names
    assert len(set(names)) == 4
    assert names[0].startswith("secbot-pki-nnnn") and len(names[0]) == 63
    assert names[2].startswith("secbot-pki-node-one-") and names[3] == "secbot-pki-node-one"


def test_the_reader_believes_what_the_agent_publishes(folder: Folder) -> None:
    # One definition of the name for both sides (the reader may not import bot.agent).
    assert publish_module.configmap_name is configmap_name
    for node in ("node-1", "n" * 80, "node.example.com"):
        document = build_inventory(folder.root, node=node, now=NOW, interval_seconds=3600)
        read = Read("secbot-agent")
        believed = list(read_claims(read, [configmap(document, namespace="x")], scanned_at=NOW))
        assert ([i.node for i, _ in believed], read.issues) == ([node], [])

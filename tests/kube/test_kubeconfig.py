"""bot.kube.kubeconfig: each kubeconfig is parsed once however many clusters it names,
an edited file is read again at once, and the client gets exactly the resolved context's
entries, with relative paths resolved against the file each entry came from."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import KubeConfigError, KubeUnauthorized
from bot.kube.kubeconfig import read_kubeconfig, resolve_context
from tests.fakes.kube_api import FakeKubeAPI

FAST = Timeouts(connect=1.0, read=2.0, retries=0)


@pytest.fixture
def apis() -> Iterator[list[FakeKubeAPI]]:
    with ExitStack() as stack:
        yield [stack.enter_context(FakeKubeAPI(token=f"token-{i}")) for i in range(3)]


def test_one_file_for_many_clusters_is_parsed_once(apis: list[FakeKubeAPI], tmp_path: Path) -> None:
    path = tmp_path / "rancher.yaml"
    for i, api in enumerate(apis):
        api.write_kubeconfig(path, context=f"c{i}", cluster=f"c{i}")
    pristine = yaml.safe_load(path.read_text())
    first = read_kubeconfig(path)
    assert read_kubeconfig(path) is first
    for i, api in enumerate(apis):
        target = KubeTarget(name=f"c{i}", kubeconfig=path, context=f"c{i}")
        with KubeClient.connect(target, timeouts=FAST) as client:
            assert client.host == api.url
            assert client.version()["major"] == "1"  # its own token was sent
    assert read_kubeconfig(path) is first
    assert first == pristine  # the client's loader got copies; the shared document is intact


def test_an_edited_file_is_read_again_even_at_the_same_size(
    apis: list[FakeKubeAPI], tmp_path: Path
) -> None:
    path = apis[0].write_kubeconfig(tmp_path / "kubeconfig", token="token-0")
    target = KubeTarget(name="t", kubeconfig=path)
    assert KubeClient.connect(target, timeouts=FAST).version()["major"] == "1"
    text = path.read_text()
    path.write_text(text.replace("token-0", "token-9"))  # same length, same clock tick
    assert path.stat().st_size == len(text)
    with pytest.raises(KubeUnauthorized):
        KubeClient.connect(target, timeouts=FAST).version()


def test_merged_files_resolve_relative_paths_against_their_own_folder(
    apis: list[FakeKubeAPI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "token").write_text("token-1")
    (tmp_path / "a" / "config").write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "k", "cluster": {"server": apis[1].url}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "k", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    (tmp_path / "b" / "config").write_text(
        yaml.safe_dump({"users": [{"name": "u", "user": {"tokenFile": "token"}}]})
    )
    monkeypatch.chdir(tmp_path)  # a path relative to the working folder would miss
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a' / 'config'}:{tmp_path / 'b' / 'config'}")
    resolved = resolve_context([tmp_path / "a" / "config", tmp_path / "b" / "config"], None)
    assert (resolved.cluster_file, resolved.user_file) == (
        tmp_path / "a" / "config",
        tmp_path / "b" / "config",
    )
    client = KubeClient.connect(KubeTarget(name="ctx"), timeouts=FAST)
    assert client.version()["major"] == "1"
    assert client.credentials().kind == "token"


def test_what_the_context_names_must_exist(apis: list[FakeKubeAPI], tmp_path: Path) -> None:
    path = apis[0].write_kubeconfig(tmp_path / "kubeconfig")
    doc = yaml.safe_load(path.read_text())
    cases: list[tuple[Any, str]] = [
        ("gone", f"kubeconfig {path}: context 'fake' names cluster 'gone', which is not defined"),
        (["not", "a", "name"], f"kubeconfig {path}: context 'fake' has a malformed cluster"),
        (None, f"kubeconfig {path}: context 'fake' names no cluster"),
    ]
    for cluster, message in cases:
        broken = copy.deepcopy(doc)
        broken["contexts"][0]["context"]["cluster"] = cluster
        path.write_text(yaml.safe_dump(broken))
        with pytest.raises(KubeConfigError) as caught:
            KubeClient.connect(KubeTarget(name="t", kubeconfig=path))
        assert str(caught.value) == message
    for body in (None, {}, {"server": " "}):  # a mistake, not an unreachable cluster
        broken = copy.deepcopy(doc)
        broken["clusters"][0]["cluster"] = body
        path.write_text(yaml.safe_dump(broken))
        with pytest.raises(KubeConfigError) as caught:
            KubeClient.connect(KubeTarget(name="t", kubeconfig=path))
        assert str(caught.value) == f"kubeconfig {path}: cluster 'fake' has no server"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_user_files_are_relative_to_the_users_own_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client certificate is read from beside the file that names it, for the
    connection and for the expiry check alike (as kubectl does; the library alone would
    look beside the cluster's file)."""
    from tests.sources import at, ec_key, key_pem, make_cert, pem

    key = ec_key("admin")
    cert = pem(make_cert("system:admin", key=key, not_after=at(30))).encode()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "admin.crt").write_bytes(cert)
    (tmp_path / "b" / "admin.key").write_text(key_pem(key))
    user = {"client-certificate": "admin.crt", "client-key": "admin.key"}
    (tmp_path / "b" / "config").write_text(yaml.safe_dump({"users": [{"name": "u", "user": user}]}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a' / 'config'}:{tmp_path / 'b' / 'config'}")
    with FakeKubeAPI(tls=True) as api:
        api.accept_client_cert = True
        cluster = {"server": api.url, "insecure-skip-tls-verify": True}
        (tmp_path / "a" / "config").write_text(
            yaml.safe_dump(
                {
                    "clusters": [{"name": "k", "cluster": cluster}],
                    "contexts": [{"name": "ctx", "context": {"cluster": "k", "user": "u"}}],
                }
            )
        )
        client = KubeClient.connect(KubeTarget(name="t", context="ctx"), timeouts=FAST)
        assert client.version()["major"] == "1"
        assert client.credentials().client_cert_pem == cert


def test_a_token_refreshed_by_the_loader_stays_out_of_the_shared_document(
    tmp_path: Path,
) -> None:
    """The library writes a refreshed auth-provider token into the user entry it was
    given: that must be a copy, or every later cluster would see it in the cache."""
    plugin = tmp_path / "token.sh"
    answer = {"credential": {"access_token": "NEW", "token_expiry": "2999-01-01T00:00:00Z"}}
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}'\n")
    plugin.chmod(0o700)
    provider = {
        "name": "gcp",
        "config": {
            "access-token": "OLD",
            "expiry": "2000-01-01T00:00:00Z",
            "cmd-path": str(plugin),
        },
    }
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9"}}],
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "users": [{"name": "u", "user": {"auth-provider": provider}}],
                "current-context": "c",
            }
        )
    )
    KubeClient.connect(KubeTarget(name="t", kubeconfig=path), timeouts=FAST)
    cached = read_kubeconfig(path)["users"][0]["user"]["auth-provider"]["config"]
    assert cached["access-token"] == "OLD"
    assert "OLD" in path.read_text()  # and nothing was written back to the file


def test_a_broken_file_is_reported_the_same_each_time(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("clusters: [\n")
    messages = set()
    for _ in range(3):
        with pytest.raises(KubeConfigError) as caught:
            read_kubeconfig(path)
        messages.add(str(caught.value))
    problem = "is not valid YAML at line 2: expected the node content, but found '<stream end>'"
    assert messages == {f"kubeconfig {path} {problem}"}

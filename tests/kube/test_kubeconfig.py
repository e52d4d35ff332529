"""bot.kube.kubeconfig: each kubeconfig is parsed once however many clusters it names,
an edited file is read again at once, and the client gets exactly the resolved context's
entries, with relative paths resolved against the file each entry came from."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

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
    broken = copy.deepcopy(doc)
    broken["contexts"][0]["context"]["cluster"] = "gone"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(KubeConfigError, match=r"^kubeconfig for 't': .*gone"):
        KubeClient.connect(KubeTarget(name="t", kubeconfig=path))
    broken["contexts"][0]["context"]["cluster"] = ["not", "a", "name"]
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(KubeConfigError, match=r"context 'fake' has a malformed cluster$"):
        KubeClient.connect(KubeTarget(name="t", kubeconfig=path))

"""KubeClient against the fake kube-apiserver (a real HTTP server; the real client library)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import (
    KubeConfigError,
    KubeConflict,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeUnauthorized,
    KubeUnavailable,
)
from tests.fakes.kube_api import FakeKubeAPI

FAST = Timeouts(connect=1.0, read=2.0, retries=0)
SETTINGS = "harvesterhci.io/v1beta1"


def secret(ns: str, name: str, kind: str = "kubernetes.io/tls") -> dict[str, Any]:
    data = {"tls.crt": base64.b64encode(b"not a cert").decode()}
    meta = {"name": name, "namespace": ns}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": kind, "data": data}


def setting(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": SETTINGS, "kind": "Setting", "metadata": {"name": name}, "value": value}


def jwt(exp: int) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'system:serviceaccount:x:y', 'exp': exp})}.c2ln"


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    objects = [secret(f"ns-{i % 3}", f"tls-{i}") for i in range(7)]
    objects += [secret("ns-0", "opaque-0", "Opaque"), setting("http-proxy", "{}")]
    with FakeKubeAPI(objects=objects) as fake:
        yield fake


def connect(api: FakeKubeAPI, tmp: Path, timeouts: Timeouts = FAST, **kw: Any) -> KubeClient:
    path = api.write_kubeconfig(tmp / "kubeconfig", **kw)
    return KubeClient.connect(KubeTarget(name="t", kubeconfig=path), timeouts=timeouts, page_size=3)


def stored(api: FakeKubeAPI, name: str) -> dict[str, Any]:
    obj = api.get(SETTINGS, "Setting", name)
    assert obj is not None
    return obj


def edit_user(path: Path, user: dict[str, Any]) -> Path:
    doc = yaml.safe_load(path.read_text())
    doc["users"][0]["user"] = user
    path.write_text(yaml.safe_dump(doc))
    return path


def test_connect_and_version(api: FakeKubeAPI, tmp_path: Path) -> None:
    with connect(api, tmp_path) as client:
        assert client.host == api.url
        assert client.version()["gitVersion"] == "v1.30.4+rke2r1"
    [request] = api.requests_to("/version")
    assert request.headers["authorization"] == "Bearer fake-token"


def test_list_pages_lazily_and_fills_kind(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    items = client.list(api_version="v1", kind="Secret", field_selector="type=kubernetes.io/tls")
    first = next(items)
    assert len(api.requests_to("/api/v1/secrets")) == 1  # one page at a time, as it arrives
    rest = list(items)
    names = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in [first, *rest]]
    assert names == [
        ("ns-0", "tls-0"), ("ns-0", "tls-3"), ("ns-0", "tls-6"), ("ns-1", "tls-1"),
        ("ns-1", "tls-4"), ("ns-2", "tls-2"), ("ns-2", "tls-5"),
    ]  # fmt: skip
    assert {(o["kind"], o["apiVersion"]) for o in [first, *rest]} == {("Secret", "v1")}
    queries = [r.query for r in api.requests_to("/api/v1/secrets")]
    assert [q["limit"] for q in queries] == [["3"], ["3"], ["3"]]
    assert [q["fieldSelector"] for q in queries] == [["type=kubernetes.io/tls"]] * 3
    assert "continue" not in queries[0]
    assert queries[1]["continue"] != queries[2]["continue"]


def test_label_selector_and_namespace(api: FakeKubeAPI, tmp_path: Path) -> None:
    labelled = secret("ns-1", "labelled")
    labelled["metadata"]["labels"] = {"app": "x"}
    api.add(labelled)
    client = connect(api, tmp_path)
    found = list(
        client.list(api_version="v1", kind="Secret", namespace="ns-1", label_selector="app=x")
    )
    assert [o["metadata"]["name"] for o in found] == ["labelled"]
    [request] = api.requests_to("/api/v1/namespaces/ns-1/secrets")
    assert request.query["labelSelector"] == ["app=x"]


def test_410_restarts_once_and_yields_each_object_once(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    items = client.list(api_version="v1", kind="Secret", field_selector="type=kubernetes.io/tls")
    seen = [next(items)["metadata"]["name"] for _ in range(3)]  # the first page
    api.expire_continue_tokens()
    api.add(secret("ns-0", "tls-new"))
    seen += [o["metadata"]["name"] for o in items]
    assert seen == ["tls-0", "tls-3", "tls-6", "tls-new", "tls-1", "tls-4", "tls-2", "tls-5"]
    continues = [r.query.get("continue") is not None for r in api.requests_to("/api/v1/secrets")]
    # page 1, expired continue (410), restart page 1, then pages 2, 3 (and 4: one more item)
    assert continues == [False, True, False, True, True]


def test_list_pages_hands_out_whole_pages(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    pages = client.list_pages(
        api_version="v1", kind="Secret", field_selector="type=kubernetes.io/tls"
    )
    first = next(pages)
    assert [o["metadata"]["name"] for o in first] == ["tls-0", "tls-3", "tls-6"]
    assert len(api.requests_to("/api/v1/secrets")) == 1
    api.expire_continue_tokens()  # the restart's first page holds only objects already seen
    rest = [[o["metadata"]["name"] for o in page] for page in pages]
    assert rest == [[], ["tls-1", "tls-4", "tls-2"], ["tls-5"]]


def test_second_410_raises_gone(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    items = client.list(api_version="v1", kind="Secret", field_selector="type=kubernetes.io/tls")
    first_page = [next(items)["metadata"]["name"] for _ in range(3)]
    api.expire_continue_tokens()
    second_page = [next(items)["metadata"]["name"] for _ in range(3)]  # restarted, page 1 skipped
    assert (first_page, second_page) == (["tls-0", "tls-3", "tls-6"], ["tls-1", "tls-4", "tls-2"])
    api.expire_continue_tokens()
    with pytest.raises(KubeGone) as caught:
        next(items)
    assert (caught.value.status, caught.value.reason) == (410, "Expired")


def test_get_and_not_found(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    obj = client.get(api_version=SETTINGS, kind="Setting", name="http-proxy")
    assert obj == stored(api, "http-proxy")
    assert (
        client.get(api_version="v1", kind="Secret", name="tls-1", namespace="ns-1")["type"]
        == "kubernetes.io/tls"
    )
    with pytest.raises(KubeNotFound) as caught:
        client.get(api_version=SETTINGS, kind="Setting", name="nope")
    assert caught.value.message == '404 NotFound: settings.harvesterhci.io "nope" not found'


def test_patch_dry_run_conflict_and_invalid(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    before = client.get(api_version=SETTINGS, kind="Setting", name="http-proxy")
    rv = before["metadata"]["resourceVersion"]
    dry = client.patch(
        api_version=SETTINGS, kind="Setting", name="http-proxy", body={"value": "a"}, dry_run=True
    )
    assert dry["value"] == "a"
    assert stored(api, "http-proxy")["value"] == "{}"
    body = {"value": "b", "metadata": {"resourceVersion": rv}}
    after = client.patch(api_version=SETTINGS, kind="Setting", name="http-proxy", body=body)
    assert after["value"] == "b"
    assert stored(api, "http-proxy")["value"] == "b"
    patches = api.requests_to("/apis/harvesterhci.io/v1beta1/settings/http-proxy", method="PATCH")
    assert [r.query for r in patches] == [
        {"fieldManager": ["secbot"], "dryRun": ["All"]},
        {"fieldManager": ["secbot"]},
    ]
    assert {r.headers["content-type"] for r in patches} == {"application/merge-patch+json"}
    with pytest.raises(KubeConflict) as conflict:  # rv is stale now
        client.patch(api_version=SETTINGS, kind="Setting", name="http-proxy", body=body)
    assert conflict.value.status == 409
    api.on_patch = lambda old, new: "noProxy must contain the node IPs"
    with pytest.raises(KubeInvalid) as invalid:
        client.patch(
            api_version=SETTINGS,
            kind="Setting",
            name="http-proxy",
            body={"value": "c"},
            dry_run=True,
        )
    assert (invalid.value.status, invalid.value.reason) == (422, "Invalid")
    assert any("noProxy must contain the node IPs" in cause for cause in invalid.value.causes)


def test_unauthorized_and_forbidden(api: FakeKubeAPI, tmp_path: Path) -> None:
    with pytest.raises(KubeUnauthorized) as caught:
        connect(api, tmp_path, token="wrong-token").version()
    assert caught.value.message == "401 Unauthorized: Unauthorized"
    api.deny(verb="list", resource="secrets")
    client = connect(api, tmp_path)
    with pytest.raises(KubeForbidden) as forbidden:
        list(client.list(api_version="v1", kind="Secret"))
    assert forbidden.value.message == (
        '403 Forbidden: secrets is forbidden: User "secbot" cannot list resource "secrets" in '
        'API group "" at the cluster scope'
    )
    assert client.can_i(verb="list", resource="secrets") is False
    assert client.can_i(verb="list", resource="nodes") is True
    assert client.can_i(verb="get", resource="settings", group="harvesterhci.io") is True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused(tmp_path: Path) -> None:
    with FakeKubeAPI() as fake:
        path = fake.write_kubeconfig(tmp_path / "kubeconfig")
    port = free_port()
    path.write_text(path.read_text().replace(f":{fake.port}", f":{port}"))
    client = KubeClient.connect(KubeTarget(name="t", kubeconfig=path), timeouts=Timeouts(retries=2))
    started = time.monotonic()
    with pytest.raises(KubeUnavailable) as caught:
        client.version()
    assert caught.value.message == f"http://127.0.0.1:{port}: connection refused"
    assert time.monotonic() - started < 2.0  # 3 attempts, tiny backoff


@pytest.mark.parametrize("retries", [0, 2])
def test_read_timeout_is_bounded(api: FakeKubeAPI, tmp_path: Path, retries: int) -> None:
    client = connect(api, tmp_path, Timeouts(connect=1.0, read=0.3, retries=retries))
    api.latency = 1.5
    started = time.monotonic()
    with pytest.raises(KubeUnavailable) as caught:
        client.version()
    elapsed = time.monotonic() - started
    assert caught.value.message == f"{api.url}: no answer within 0.3s (read timeout)"
    assert len(api.requests_to("/version")) == retries + 1  # the library default would make 4
    assert elapsed < 0.3 * (retries + 1) + 1.0


def test_429_retry_after_is_honoured_for_gets(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path, Timeouts(connect=1.0, read=2.0, retries=1))
    api.fail("/api/v1/nodes", 429, times=1, retry_after=1)
    started = time.monotonic()
    assert list(client.list(api_version="v1", kind="Node")) == []
    assert time.monotonic() - started >= 1.0
    assert len(api.requests_to("/api/v1/nodes")) == 2


def test_429_without_retries_carries_retry_after(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path)
    api.fail("/api/v1/nodes", 429, times=1, retry_after=7)
    with pytest.raises(KubeUnavailable) as caught:
        list(client.list(api_version="v1", kind="Node"))
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)


def test_retry_after_is_capped(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path, Timeouts(retries=1, retry_after_cap=0.2))
    api.fail("/version", 503, times=1, retry_after=120)
    started = time.monotonic()
    assert client.version()["major"] == "1"
    assert time.monotonic() - started < 2.0


def test_patch_is_never_retried(api: FakeKubeAPI, tmp_path: Path) -> None:
    client = connect(api, tmp_path, Timeouts(retries=3))
    api.fail("/apis/harvesterhci.io", 503, times=1, method="PATCH")
    with pytest.raises(KubeUnavailable):
        client.patch(api_version=SETTINGS, kind="Setting", name="http-proxy", body={"value": "x"})
    assert len(api.requests_to("/apis/harvesterhci.io", method="PATCH")) == 1


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_server_and_failed_verification(tmp_path: Path) -> None:
    with FakeKubeAPI(tls=True) as fake:
        path = fake.write_kubeconfig(tmp_path / "kubeconfig")
        client = KubeClient.connect(KubeTarget(name="t", kubeconfig=path), timeouts=FAST)
        assert client.version()["minor"] == "30"
        path.write_text(path.read_text().replace("insecure-skip-tls-verify: true", ""))
        strict = KubeClient.connect(KubeTarget(name="t", kubeconfig=path), timeouts=FAST)
        with pytest.raises(KubeUnavailable) as caught:
            strict.version()
        assert caught.value.message.startswith(f"{fake.url}: TLS handshake failed (")


def test_credentials_client_certificate(api: FakeKubeAPI, tmp_path: Path) -> None:
    from tests.sources import at, ec_key, key_pem, make_cert, pem

    key = ec_key("admin")
    cert = pem(make_cert("system:admin", key=key, not_after=at(30))).encode()
    client = connect(api, tmp_path, client_cert_pem=cert, client_key_pem=key_pem(key).encode())
    creds = client.credentials()
    assert (creds.kind, creds.client_cert_pem, creds.token_expires_at) == (
        "client-certificate",
        cert,
        None,
    )
    assert creds.detail == f"user 'fake' of context 'fake' in {tmp_path / 'kubeconfig'}"
    assert client.version()["major"] == "1"
    # a certificate file that also holds the key: only the certificate comes back
    (tmp_path / "admin.pem").write_bytes(cert + key_pem(key).encode())
    path = edit_user(
        tmp_path / "kubeconfig", {"client-certificate": "admin.pem", "token": "fake-token"}
    )
    creds = KubeClient.connect(KubeTarget(name="t", kubeconfig=path)).credentials()
    assert (creds.kind, creds.client_cert_pem) == ("client-certificate", cert)


def test_credentials_jwt_token(tmp_path: Path) -> None:
    token = jwt(1_799_999_999)
    with FakeKubeAPI(token=token) as fake:
        client = connect(fake, tmp_path)
        creds = client.credentials()
        assert (creds.kind, creds.client_cert_pem) == ("token", None)
        assert creds.token_expires_at == datetime(2027, 1, 15, 7, 59, 59, tzinfo=UTC)
        for text in (repr(creds), str(creds), repr(client), repr(vars(creds))):
            assert token not in text
        assert client.version()["major"] == "1"


def test_credentials_token_file_opaque_token_and_exec(api: FakeKubeAPI, tmp_path: Path) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    (tmp_path / "token").write_text(jwt(1_700_000_000) + "\n")
    edit_user(path, {"tokenFile": "token"})
    creds = KubeClient.connect(KubeTarget(name="t", kubeconfig=path)).credentials()
    assert (creds.kind, creds.token_expires_at) == (
        "token",
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
    )
    assert connect(api, tmp_path).credentials().token_expires_at is None  # "fake-token": no JWT
    plugin = tmp_path / "plugin.sh"
    status = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": api.token},
    }
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(status)}'\n")
    plugin.chmod(0o700)
    edit_user(
        path,
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}},
    )
    client = KubeClient.connect(KubeTarget(name="t", kubeconfig=path), timeouts=FAST)
    assert (client.credentials().kind, client.credentials().token_expires_at) == ("exec", None)
    assert client.version()["major"] == "1"


def test_default_kubeconfig_and_context(
    api: FakeKubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig", context="other")
    monkeypatch.setenv("KUBECONFIG", str(path))
    client = KubeClient.connect(KubeTarget(name="other", context="other"), timeouts=FAST)
    assert client.version()["major"] == "1"


def test_bad_kubeconfigs(api: FakeKubeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    with pytest.raises(KubeConfigError) as caught:
        KubeClient.connect(KubeTarget(name="t", kubeconfig=path, context="prod"))
    assert str(caught.value) == f"kubeconfig {path}: context 'prod' not found (known: fake)"
    (tmp_path / "bad").write_text("clusters: [\n")
    with pytest.raises(KubeConfigError, match=r"^kubeconfig .*/bad is not valid YAML at line 2"):
        KubeClient.connect(KubeTarget(name="t", kubeconfig=tmp_path / "bad"))
    edit_user(path, {"client-certificate": "missing.pem"})
    with pytest.raises(KubeConfigError, match=r"^client-certificate .*/missing.pem cannot be read"):
        KubeClient.connect(KubeTarget(name="t", kubeconfig=path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match=r"^in-cluster config: Service host/port is not set"):
        KubeClient.connect(KubeTarget(name="t", in_cluster=True))


def test_importing_the_adapter_does_not_import_kubernetes() -> None:
    code = "import bot.kube.client, bot.kube.targets, bot.kube.errors"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line
    }
    assert "bot" in imported
    assert not imported & {"kubernetes", "urllib3", "pydantic"}

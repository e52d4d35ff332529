"""Tests of the fake kube-apiserver, driven by the real ``kubernetes`` 37 client over HTTP.

What the client sees must be what a real apiserver sends, so every error body is compared
whole. Client retries are off (``Configuration.retries = False``): one request per call.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tls import FakeTLSEndpoint
from tests.sources import at, ec_key, key_pem, leaf, make_cert, name, pem

TLS = "kubernetes.io/tls"
SETTINGS = ("harvesterhci.io", "v1beta1", "settings")


def secret(ns: str, secret_name: str, kind: str = TLS, **labels: str) -> dict[str, Any]:
    md = {"name": secret_name, "namespace": ns, "labels": labels}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": md,
        "type": kind,
        "data": {"tls.crt": "Y2VydA=="},
    }


def setting(setting_name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": setting_name},
        "value": value,
    }


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-0"}}
OBJECTS = [
    secret("cattle-system", "tls-rancher-internal"),
    secret("cattle-system", "serving-cert"),
    secret("default", "app", "Opaque", app="web"),
    secret("harvester-system", "harvester-tls"),
    secret("kube-system", "rke2-serving"),
    secret("kube-system", "sa-token", "Opaque"),
    secret("longhorn-system", "longhorn-webhook-tls", app="longhorn"),
    secret("longhorn-system", "longhorn-webhook-ca"),
    setting("auto-rotate-rke2-certs", '{"enable":false,"expiringInDay":7}'),
    setting("ssl-parameters", "{}"),
    NODE,
]
TLS_NAMES = [
    "serving-cert",
    "tls-rancher-internal",
    "harvester-tls",
    "rke2-serving",
    "longhorn-webhook-ca",
    "longhorn-webhook-tls",
]  # etcd key order: namespace, name


def status(code: int, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        **extra,
        "code": code,
    }
    return body


def api_client(api: FakeKubeAPI, token: str = "fake-token") -> client.ApiClient:
    cfg = client.Configuration(
        host=api.url, api_key={"authorization": token}, api_key_prefix={"authorization": "Bearer"}
    )
    cfg.retries = False  # one attempt per call: the library default would retry 3 times
    return client.ApiClient(cfg)


def from_kubeconfig(path: str, context: str | None = None) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(path, context)  # type: ignore[no-untyped-call]
    api.configuration.retries = False
    return api


def error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any], Any]:
    with pytest.raises(ApiException) as info:
        call(*args, **kwargs)
    return info.value.status, json.loads(info.value.body or "null"), info.value.headers


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(objects=OBJECTS) as fake:
        yield fake
    assert fake.server_errors == []


@pytest.fixture
def core(api: FakeKubeAPI) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(api))


@pytest.fixture
def custom(api: FakeKubeAPI) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client(api))


def test_tls_secrets_come_in_three_pages_in_key_order(api: FakeKubeAPI, core: Any) -> None:
    names, tokens, token = [], [], None
    while True:
        page = core.list_secret_for_all_namespaces(
            field_selector=f"type={TLS}", limit=2, _continue=token
        )
        names.append([s.metadata.name for s in page.items])
        assert page.metadata.remaining_item_count is None  # never counted under a selector
        token = page.metadata._continue
        tokens.append(token)
        if not token:
            break
    assert names == [TLS_NAMES[0:2], TLS_NAMES[2:4], TLS_NAMES[4:6]]
    assert tokens[2] is None
    sent = api.requests_to("/api/v1/secrets")
    assert [r.query.get("continue") for r in sent] == [None, [tokens[0]], [tokens[1]]]
    assert {r.query["fieldSelector"][0] for r in sent} == {"type=kubernetes.io/tls"}
    everything = core.list_secret_for_all_namespaces(limit=5)
    assert everything.metadata.remaining_item_count == 3


def test_pages_are_a_consistent_snapshot(api: FakeKubeAPI, core: Any) -> None:
    first = core.list_namespaced_secret("longhorn-system", limit=1)
    api.add(secret("longhorn-system", "longhorn-webhook-zz"))
    rest = core.list_namespaced_secret("longhorn-system", _continue=first.metadata._continue)
    assert [s.metadata.name for s in first.items + rest.items] == [
        "longhorn-webhook-ca",
        "longhorn-webhook-tls",
    ]
    assert rest.metadata.resource_version == first.metadata.resource_version


def test_expired_continue_is_410_expired_with_an_inconsistent_token(
    api: FakeKubeAPI, core: Any
) -> None:
    first = core.list_secret_for_all_namespaces(field_selector=f"type={TLS}", limit=4)
    api.expire_continue_tokens()
    api.add(secret("zz-late", "added-after-expiry"))
    code, body, _ = error(
        core.list_secret_for_all_namespaces,
        field_selector=f"type={TLS}",
        limit=4,
        _continue=first.metadata._continue,
    )
    assert code == 410
    assert (body["reason"], body["code"], body["status"]) == ("Expired", 410, "Failure")
    assert body["message"].startswith("The provided continue parameter is too old")
    rest = core.list_secret_for_all_namespaces(
        field_selector=f"type={TLS}", limit=4, _continue=body["metadata"]["continue"]
    )
    assert [s.metadata.name for s in rest.items] == [*TLS_NAMES[4:], "added-after-expiry"]


def test_builtin_list_items_carry_no_kind_but_custom_ones_do(
    api: FakeKubeAPI, core: Any, custom: Any
) -> None:
    raw = core.list_namespaced_secret("default", _preload_content=False)
    listed = json.loads(raw.data)
    assert (listed["kind"], listed["apiVersion"]) == ("SecretList", "v1")
    assert "kind" not in listed["items"][0] and listed["items"][0]["type"] == "Opaque"
    one = json.loads(core.read_namespaced_secret("app", "default", _preload_content=False).data)
    assert (one["kind"], one["apiVersion"], one["metadata"]["labels"]) == (
        "Secret",
        "v1",
        {"app": "web"},
    )
    settings = custom.list_cluster_custom_object(*SETTINGS)
    assert [(s["kind"], s["metadata"]["name"]) for s in settings["items"]] == [
        ("Setting", "auto-rotate-rke2-certs"),
        ("Setting", "ssl-parameters"),
    ]


def test_selectors(api: FakeKubeAPI, core: Any) -> None:
    def names(**kw: Any) -> list[str]:
        return [s.metadata.name for s in core.list_secret_for_all_namespaces(**kw).items]

    assert names(label_selector="app=longhorn") == ["longhorn-webhook-tls"]
    assert names(label_selector="app,app!=web") == ["longhorn-webhook-tls"]
    assert names(label_selector="app in (web,x)") == ["app"]
    assert names(field_selector="type!=kubernetes.io/tls,metadata.namespace=kube-system") == [
        "sa-token"
    ]
    assert names(field_selector="metadata.name==app") == ["app"]
    code, body, _ = error(core.list_secret_for_all_namespaces, field_selector="data.x=1")
    assert (code, body) == (400, status(400, "BadRequest", "field label not supported: data.x"))
    api.add(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "reason": "CertificateExpirationWarning",
            "involvedObject": {"kind": "Node"},
        }
    )
    events = client.CoreV1Api(api_client(api)).list_event_for_all_namespaces(
        field_selector="reason=CertificateExpirationWarning,involvedObject.kind=Node"
    )
    assert [e.metadata.name for e in events.items] == ["e1"]


def test_custom_object_get_patch_and_stale_resource_version(api: FakeKubeAPI, custom: Any) -> None:
    got = custom.get_cluster_custom_object(*SETTINGS, "ssl-parameters")
    rv = got["metadata"]["resourceVersion"]
    body = {"value": '{"protocols":"TLSv1.2"}', "metadata": {"resourceVersion": rv}}
    patched = custom.patch_cluster_custom_object(*SETTINGS, "ssl-parameters", body)
    assert patched["value"] == '{"protocols":"TLSv1.2"}'
    # One global counter, as in etcd: 8 secrets, 2 settings, 1 node were written before.
    assert (rv, patched["metadata"]["resourceVersion"]) == ("10", "12")
    assert patched["metadata"]["uid"] == got["metadata"]["uid"]
    assert api.requests[-1].headers["content-type"] == "application/merge-patch+json"
    code, err, _ = error(custom.patch_cluster_custom_object, *SETTINGS, "ssl-parameters", body)
    assert (code, err) == (
        409,
        status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on settings.harvesterhci.io "
            '"ssl-parameters": the object has been modified; please apply your changes to the '
            "latest version and try again",
            details={"name": "ssl-parameters", "group": "harvesterhci.io", "kind": "settings"},
        ),
    )
    code, err, _ = error(custom.get_cluster_custom_object, *SETTINGS, "nope")
    assert (code, err) == (
        404,
        status(
            404,
            "NotFound",
            'settings.harvesterhci.io "nope" not found',
            details={"name": "nope", "group": "harvesterhci.io", "kind": "settings"},
        ),
    )


def test_dry_run_and_validator(api: FakeKubeAPI, custom: Any) -> None:
    before = api.get("harvesterhci.io/v1beta1", "Setting", "auto-rotate-rke2-certs")
    answer = custom.patch_cluster_custom_object(
        *SETTINGS, "auto-rotate-rke2-certs", {"value": '{"enable":true}'}, dry_run="All"
    )
    assert answer["value"] == '{"enable":true}'
    assert api.get("harvesterhci.io/v1beta1", "Setting", "auto-rotate-rke2-certs") == before
    api.on_patch = lambda old, new: (
        "value: Invalid value: must be JSON" if new["value"] == "x" else None
    )
    code, err, _ = error(
        custom.patch_cluster_custom_object,
        *SETTINGS,
        "ssl-parameters",
        {"value": "x"},
        dry_run="All",
    )
    assert (code, err) == (
        422,
        status(
            422,
            "Invalid",
            'Setting.harvesterhci.io "ssl-parameters" is invalid: value: Invalid '
            "value: must be JSON",
            details={
                "name": "ssl-parameters",
                "group": "harvesterhci.io",
                "kind": "Setting",
                "causes": [
                    {"reason": "FieldValueInvalid", "message": "value: Invalid value: must be JSON"}
                ],
            },
        ),
    )


def test_create_then_already_exists(api: FakeKubeAPI, core: Any) -> None:
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="new"), type=TLS)
    made = core.create_namespaced_secret("default", body)
    assert (made.metadata.namespace, made.type) == ("default", TLS)
    stored = api.get("v1", "Secret", "new", "default")
    assert stored is not None and stored["metadata"]["uid"] == made.metadata.uid
    code, err, _ = error(core.create_namespaced_secret, "default", body)
    assert (code, err) == (
        409,
        status(
            409,
            "AlreadyExists",
            'secrets "new" already exists',
            details={"name": "new", "kind": "secrets"},
        ),
    )


def test_wrong_token_is_401(api: FakeKubeAPI) -> None:
    code, err, _ = error(client.CoreV1Api(api_client(api, "stolen")).list_node)
    assert (code, err) == (401, status(401, "Unauthorized", "Unauthorized"))


def test_denied_list_is_403_and_the_review_says_no(api: FakeKubeAPI, core: Any) -> None:
    api.deny(verb="list", resource="secrets")
    code, err, _ = error(core.list_secret_for_all_namespaces)
    assert (code, err) == (
        403,
        status(
            403,
            "Forbidden",
            'secrets is forbidden: User "secbot" cannot list resource "secrets" in '
            'API group "" at the cluster scope',
            details={"kind": "secrets"},
        ),
    )
    assert core.read_namespaced_secret("app", "default").metadata.name == "app"  # get is fine
    authz = client.AuthorizationV1Api(api_client(api))

    def allowed(verb: str, resource: str, group: str = "", ns: str | None = None) -> bool:
        attrs = client.V1ResourceAttributes(verb=verb, resource=resource, group=group, namespace=ns)
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)
        )
        answer = authz.create_self_subject_access_review(review).status
        assert answer is not None
        return answer.allowed

    assert (allowed("list", "secrets"), allowed("list", "secrets", ns="x")) == (False, False)
    assert (allowed("get", "secrets"), allowed("list", "settings", "harvesterhci.io")) == (
        True,
        True,
    )
    api.deny(verb="*", resource="settings", group="harvesterhci.io", namespace="only-here")
    assert allowed("list", "settings", "harvesterhci.io") is False  # cluster-wide needs all


def test_injected_429_with_retry_after_then_success(api: FakeKubeAPI, core: Any) -> None:
    api.fail("/api/v1/secrets", 429, times=1, retry_after=7)
    code, err, headers = error(core.list_secret_for_all_namespaces)
    assert (code, headers["Retry-After"]) == (429, "7")
    assert err == status(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        details={"retryAfterSeconds": 7},
    )
    assert len(core.list_secret_for_all_namespaces().items) == 8
    api.fail("/api/v1/nodes", 503, method="GET")
    api.fail("/api/v1/nodes", 0)
    code, err, _ = error(core.list_node)
    assert (code, err) == (
        503,
        status(503, "ServiceUnavailable", "the server is currently unable to handle the request"),
    )
    api.clear_failures()
    api.fail("/api/v1/nodes", 429, times=1, plain=True)  # priority-and-fairness answers in text
    with pytest.raises(ApiException) as info:
        core.list_node()
    assert (info.value.status, info.value.body) == (
        429,
        "Too many requests, please try again later.\n",
    )
    api.fail("/api/v1/nodes", 0)  # dropped unanswered, like a dying load balancer
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.list_node()


APP = {"name": "app", "kind": "secrets"}
ON_APP = 'User "secbot" cannot get resource "secrets" in API group "" in the namespace "default"'


@pytest.mark.parametrize(
    ("code", "reason", "message", "details"),
    [
        (400, "BadRequest", "the server rejected our request for an unknown reason", None),
        (403, "Forbidden", f'secrets "app" is forbidden: {ON_APP}', APP),
        (404, "NotFound", 'secrets "app" not found', APP),
        (410, "Expired", "The resourceVersion for the provided list is too old.", None),
        (
            422,
            "Invalid",
            'Secret "app" is invalid: injected failure',
            {
                "name": "app",
                "kind": "Secret",
                "causes": [{"reason": "FieldValueInvalid", "message": "injected failure"}],
            },
        ),
        (
            500,
            "InternalError",
            "Internal error occurred: injected failure",
            {"causes": [{"message": "injected failure"}]},
        ),
    ],
)
def test_injected_statuses_are_shaped_like_the_apiserver(
    api: FakeKubeAPI, core: Any, code: int, reason: str, message: str, details: Any
) -> None:
    api.fail("/api/v1/namespaces/default/secrets/app", code, times=1)
    extra = {} if details is None else {"details": details}
    assert error(core.read_namespaced_secret, "app", "default")[:2] == (
        code,
        status(code, reason, message, **extra),
    )
    assert core.read_namespaced_secret("app", "default").metadata.name == "app"


def test_latency_is_added_to_every_request(api: FakeKubeAPI, core: Any) -> None:
    api.latency = 0.3
    start = time.monotonic()
    core.list_node()
    assert time.monotonic() - start >= 0.3
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.list_node(_request_timeout=(1, 0.1))


def test_kubeconfig_with_token_and_with_client_certificate(
    api: FakeKubeAPI, tmp_path: Path
) -> None:
    path = api.write_kubeconfig(tmp_path / "kubeconfig", context="harvester-a")
    assert path.stat().st_mode & 0o777 == 0o600
    version = client.VersionApi(from_kubeconfig(str(path))).get_code()
    assert version.git_version == "v1.30.4+rke2r1"
    assert api.requests[-1].headers["authorization"] == "Bearer fake-token"
    key = ec_key("kubeconfig-user")
    cert = make_cert("admin", key=key, not_after=at(30))
    api.write_kubeconfig(
        path,
        context="by-cert",
        client_cert_pem=pem(cert).encode(),
        client_key_pem=key_pem(key).encode(),
    )
    by_cert = from_kubeconfig(str(path), context="by-cert")
    nodes: Any = client.CoreV1Api(by_cert).list_node(_preload_content=False)
    assert [n["metadata"]["name"] for n in json.loads(nodes.data)["items"]] == ["node-0"]
    assert "authorization" not in api.requests[-1].headers
    contexts, active = config.list_kube_config_contexts(str(path))  # type: ignore[no-untyped-call]
    assert ([c["name"] for c in contexts], active["name"]) == (
        ["harvester-a", "by-cert"],
        "harvester-a",
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_mode_serves_https(tmp_path: Path) -> None:
    with FakeKubeAPI(tls=True, host="127.0.0.2") as api:
        assert api.url.startswith("https://127.0.0.2:")
        path = api.write_kubeconfig(tmp_path / "kc")
        api.add(NODE)
        nodes = client.CoreV1Api(from_kubeconfig(str(path))).list_node()
        assert [n.metadata.name for n in nodes.items if n.metadata] == ["node-0"]


def test_closed_fake_is_unreachable(core: Any, api: FakeKubeAPI) -> None:
    core.list_node()  # leaves a pooled keep-alive connection behind
    api.close()
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_node()


def test_tls_endpoint_presents_the_given_chain() -> None:
    ca_key = ec_key("probe-ca")
    ca = make_cert("probe-ca", key=ca_key, not_after=at(3650), ca=True)
    cert, key = leaf("kubelet", -2, (name("probe-ca"), ca_key), ips=("127.0.0.1",))  # expired
    with FakeTLSEndpoint(chain_pem=pem(cert, ca).encode(), key_pem=key_pem(key)) as endpoint:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with (
            socket.create_connection((endpoint.host, endpoint.port), timeout=5) as raw,
            ctx.wrap_socket(raw) as tls,
        ):
            served = tls.getpeercert(binary_form=True)
        assert served == cert.public_bytes(Encoding.DER)
    assert (endpoint.handshakes, endpoint.server_names) == (1, [None])

"""read_live against the fake API server with the real KubeClient, and the probe against
real TLS listeners: facts, pagination, refusals, outages, served chains, credentials.

The helpers that build cluster objects are shared with tests/test_fleet.py.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from bot.checks.registry import get_check
from bot.checks.runner import run_checks
from bot.core.snapshot import CoverageStatus, CredentialInfo, Node, Snapshot, TLSEndpoint
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.sources.live import ProbeOptions, read_live
from bot.sources.live_reads import describe_cert_info
from tests.fakes.kube_api import FakeKubeAPI, FakeTLSEndpoint
from tests.sources import NOW, at, b64, ec_key, key_pem, make_cert, name, pem

R, P, F, E = CoverageStatus.READ, CoverageStatus.PARTIAL, CoverageStatus.FORBIDDEN, "error"
FAST = Timeouts(connect=2, read=5, retries=0)
NO_PROBE = ProbeOptions(enabled=False)

# A small PKI: a CA for the cluster, leaves for the listeners and Secrets.
CA_KEY = ec_key("live-ca")
CA = make_cert("live-ca", key=CA_KEY, not_after=at(3650), ca=True)
ISSUER = (name("live-ca"), CA_KEY)


def issue(cn: str, days: float, *, key_label: str | None = None) -> tuple[Any, Any]:
    key = ec_key(key_label or f"{cn}-{days}")
    return make_cert(cn, key=key, not_after=at(days), issuer=ISSUER, ips=("127.0.0.1",)), key


def _sha(cert: Any) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# -- cluster objects ---------------------------------------------------------------------------
def setting(
    setting_name: str, value: str | None = None, default: str | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": setting_name},
    }
    if value is not None:
        obj["value"] = value
    if default is not None:
        obj["default"] = default
    return obj


def node(
    node_name: str,
    ip: str,
    *,
    control_plane: bool = True,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {"node-role.kubernetes.io/control-plane": "true"} if control_plane else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node_name, "labels": labels, "annotations": annotations or {}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "nodeInfo": {"kubeletVersion": "v1.30.4+rke2r1", "osImage": "Harvester v1.5.1"},
        },
    }


def tls_secret(ns: str, secret_name: str, crt: str, key: str | None = None) -> dict[str, Any]:
    data = {"tls.crt": b64(crt)}
    if key is not None:
        data["tls.key"] = b64(key)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": ns},
        "type": "kubernetes.io/tls",
        "data": data,
    }


def opaque_secret(ns: str, secret_name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "namespace": ns},
        "type": "Opaque",
        "data": {"password": b64(password)},
    }


def apiserver_endpoints(*ips: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [
            {"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "https", "port": 6443}]}
        ],
    }


def vip_configmap(ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "vip", "namespace": "harvester-system"},
        "data": {"enabled": "true", "ip": ip, "mode": "static"},
    }


def event(event_name: str, reason: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name, "namespace": "kube-system"},
        "involvedObject": {"kind": "Node", "name": "node-0"},
        "reason": reason,
        "message": f"{reason} on node-0",
        "type": "Warning",
        "count": 3,
        "lastTimestamp": "2026-05-30T06:00:00Z",
    }


def ssl_certificates_custom(cert_pem: str, private_key: str) -> dict[str, Any]:
    value = json.dumps({"ca": "", "publicCertificate": cert_pem, "privateKey": private_key})
    return setting("ssl-certificates", value, "{}")


# -- connecting --------------------------------------------------------------------------------
@contextmanager
def connected(
    api: FakeKubeAPI, tmp_path: Path, *, page_size: int = 250, **kubeconfig: Any
) -> Iterator[KubeClient]:
    path = api.write_kubeconfig(tmp_path / f"kubeconfig-{api.port}", **kubeconfig)
    client = KubeClient.connect(
        KubeTarget(name="c", kubeconfig=path), timeouts=FAST, page_size=page_size
    )
    try:
        yield client
    finally:
        client.close()


def read(
    api: FakeKubeAPI, tmp_path: Path, *, probe: ProbeOptions = NO_PROBE, **kw: Any
) -> Snapshot:
    with connected(api, tmp_path, **kw) as client:
        return read_live(client, cluster="c", scanned_at=NOW, probe=probe)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def coverage(snap: Snapshot) -> dict[str, str]:
    return {c.subject: c.status.value for c in snap.coverage}


@contextmanager
def listeners(**chains: tuple[Sequence[str], str]) -> Iterator[dict[str, FakeTLSEndpoint]]:
    """component=(chain PEMs, key PEM) -> started FakeTLSEndpoints on 127.0.0.1."""
    with ExitStack() as stack:
        yield {
            component: stack.enter_context(FakeTLSEndpoint(chain_pem=list(chain), key_pem=key))
            for component, (chain, key) in chains.items()
        }


# -- facts ---------------------------------------------------------------------------------------
WEB, WEB_KEY = issue("web.example.com", 200)


def healthy_objects() -> list[dict[str, Any]]:
    return [
        setting("server-version", None, "v1.5.1"),
        setting("http-proxy", "", "{}"),
        node("node-0", "10.0.0.10"),
        node("node-1", "10.0.0.11", control_plane=False),
        tls_secret("default", "web", pem(WEB, CA), key_pem(WEB_KEY)),
        opaque_secret("default", "db", "hunter2-canary"),
        event("cert.1", "CertificateExpirationWarning"),
        event("ca.1", "CACertificateExpirationWarning"),
        event("pulled.1", "Pulled"),
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "hook"},
            "webhooks": [{"name": "h", "clientConfig": {"caBundle": b64(pem(CA))}}],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {"caBundle": b64(pem(CA))},
        },
    ]


def test_reads_every_subject_into_facts(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=healthy_objects()) as api:
        snap = read(api, tmp_path)
        secret_queries = [r.query for r in api.requests_to("/api/v1/secrets")]
    assert (snap.source, snap.origin, snap.harvester_version) == ("live", api.url, "v1.5.1")
    assert sorted(snap.settings) == ["http-proxy", "server-version"]
    assert snap.nodes == (
        Node("node-0", ("10.0.0.10",), ("control-plane",), "v1.30.4+rke2r1", "Harvester v1.5.1"),
        Node("node-1", ("10.0.0.11",), (), "v1.30.4+rke2r1", "Harvester v1.5.1"),
    )
    assert sorted(c.location.key for c in snap.certificates) == [
        "APIService//v1beta1.metrics.k8s.io#spec.caBundle[0]",
        "Secret/default/web#data.tls.crt[0]",
        "Secret/default/web#data.tls.crt[1]",
        "ValidatingWebhookConfiguration//hook#webhooks[h].clientConfig.caBundle[0]",
    ]
    assert [(k.location.key, k.key_type) for k in snap.keys] == [
        ("Secret/default/web#data.tls.key", "EC")
    ]
    assert sorted((e.reason, e.count) for e in snap.events) == [
        ("CACertificateExpirationWarning", 3),
        ("CertificateExpirationWarning", 3),
    ]
    assert coverage(snap) == {
        "api": "read",
        "credentials": "read",
        "events": "read",
        "node-pki": "missing",
        "nodes": "read",
        "probe": "excluded",
        "rancher-settings": "read",
        "secrets": "read",
        "setting:http-proxy": "read",
        "setting:server-version": "read",
        "settings": "read",
        "webhooks": "read",
    }
    # The server filters secrets by type: Opaque ones never reach the scanner.
    assert secret_queries == [{"limit": ["250"], "fieldSelector": ["type=kubernetes.io/tls"]}]


def test_no_private_key_or_opaque_secret_reaches_the_snapshot(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=healthy_objects()) as api:
        text = repr(read(api, tmp_path))
    body = "".join(key_pem(WEB_KEY).splitlines()[1:-1])
    for secret in (body[:40], b64(key_pem(WEB_KEY))[:40], "hunter2-canary", b64("hunter2-canary")):
        assert secret not in text


def test_secrets_are_paged(tmp_path: Path) -> None:
    objects = [tls_secret("ns", f"s{i}", pem(issue(f"s{i}", 100 + i)[0])) for i in range(7)]
    with FakeKubeAPI(objects=objects) as api:
        snap = read(api, tmp_path, page_size=3)
        pages = api.requests_to("/api/v1/secrets")
    assert [("continue" in r.query, r.query["limit"]) for r in pages] == [
        (False, ["3"]),
        (True, ["3"]),
        (True, ["3"]),
    ]
    assert sorted(c.location.name for c in snap.certificates) == [f"s{i}" for i in range(7)]
    assert coverage(snap)["secrets"] == "read"


def test_forbidden_secrets_are_coverage_and_the_rest_is_read(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=healthy_objects()) as api:
        api.deny(verb="list", resource="secrets")
        snap = read(api, tmp_path)
    secrets = snap.coverage_of("secrets")
    assert secrets.status == F
    assert secrets.detail == (
        "cannot list secrets in all namespaces: 403 Forbidden: secrets is forbidden: User "
        '"secbot" cannot list resource "secrets" in API group "" at the cluster scope'
    )
    assert coverage(snap)["settings"] == "read"
    assert not any(c.location.kind == "Secret" for c in snap.certificates)
    found = run_checks(snap, [get_check("source-forbidden")]).findings
    assert [(f.severity.value, f.resource.key) for f in found] == [
        ("warning", "Cluster//c#secrets")
    ]


def test_a_failing_list_is_an_error_for_its_subject_only(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=healthy_objects()) as api:
        api.fail("/api/v1/events", 500)
        snap = read(api, tmp_path)
    events = snap.coverage_of("events")
    assert (events.status.value, events.detail.split(": ")[:2]) == (
        E,
        ["cannot list events in all namespaces", "500 InternalError"],
    )
    assert snap.events == ()
    assert coverage(snap)["nodes"] == coverage(snap)["secrets"] == "read"


def test_unreachable_api_is_one_error_and_nothing_else(tmp_path: Path) -> None:
    api = FakeKubeAPI()
    with connected(api, tmp_path) as client:
        api.close()  # the port is closed now: connection refused
        snap = read_live(client, cluster="c", scanned_at=NOW, probe=ProbeOptions())
    assert [(c.subject, c.status.value, c.detail) for c in snap.coverage] == [
        ("api", E, f"{api.url}: connection refused"),
        ("credentials", "read", ""),  # local: read all the same
    ]
    assert (snap.settings, snap.nodes, snap.certificates, snap.endpoints) == ({}, (), (), ())
    found = run_checks(snap, [get_check("source-unreachable")]).findings
    assert [(f.severity.value, f.resource.key) for f in found] == [("critical", "Cluster//c")]


def test_refused_credentials_are_api_forbidden(tmp_path: Path) -> None:
    with FakeKubeAPI() as api:
        snap = read(api, tmp_path, token="wrong")
    assert [(c.subject, c.status) for c in snap.coverage] == [("api", F), ("credentials", R)]
    assert snap.coverage[0].detail.startswith("401 Unauthorized")
    found = run_checks(snap, [get_check("source-forbidden")]).findings
    assert [(f.severity.value, f.resource.key) for f in found] == [("critical", "Cluster//c#api")]


def test_an_expired_client_certificate_is_named_when_the_api_refuses_it(tmp_path: Path) -> None:
    """401: nothing of the cluster is read, but the kubeconfig is local, and its expired
    certificate is the likely reason: both findings come out."""
    key = ec_key("admin")
    cert = pem(make_cert("system:admin", key=key, not_after=at(-3))).encode()
    with FakeKubeAPI() as api:
        snap = read(
            api, tmp_path, client_cert_pem=cert, client_key_pem=key_pem(key).encode(), token="no"
        )
    checks = [get_check("source-forbidden"), get_check("kubeconfig-credential-expiring")]
    found = run_checks(snap, checks).findings
    assert sorted((f.check_id, f.severity.value) for f in found) == [
        ("kubeconfig-credential-expiring", "critical"),
        ("source-forbidden", "critical"),
    ]


# -- the probe -----------------------------------------------------------------------------------
UI_OLD, UI_OLD_KEY = issue("harvester-ui", 9, key_label="ui-old")
UI_NEW, UI_NEW_KEY = issue("harvester-ui", 363, key_label="ui-new")
APISERVER, APISERVER_KEY = issue("kube-apiserver", 5)
KUBELET_KEY = ec_key("kubelet")
KUBELET = make_cert("node-0@1700000000", key=KUBELET_KEY, not_after=at(300))


def probed_cluster() -> list[dict[str, Any]]:
    return [
        setting("server-version", None, "v1.5.1"),
        ssl_certificates_custom(pem(UI_NEW, CA), key_pem(UI_NEW_KEY)),
        tls_secret("cattle-system", "tls-ingress", pem(UI_NEW, CA), key_pem(UI_NEW_KEY)),
        apiserver_endpoints("127.0.0.1"),
        vip_configmap("127.0.0.1"),
        node("node-0", "127.0.0.1"),
    ]


def test_probe_reads_served_chains_and_compares_them_with_secrets(tmp_path: Path) -> None:
    off1, off2 = closed_port(), closed_port()
    with (
        FakeKubeAPI(objects=probed_cluster()) as api,
        listeners(
            apiserver=([pem(APISERVER), pem(CA)], key_pem(APISERVER_KEY)),
            vip=([pem(UI_OLD), pem(CA)], key_pem(UI_OLD_KEY)),
            kubelet=([pem(KUBELET)], key_pem(KUBELET_KEY)),
        ) as ls,
    ):
        a, v, k = ls["apiserver"].port, ls["vip"].port, ls["kubelet"].port
        ports = {
            "kube-apiserver": a,
            "harvester-vip": v,
            "kubelet": k,
            "kube-controller-manager": off1,
            "kube-scheduler": off2,
        }
        snap = read(api, tmp_path, probe=ProbeOptions(ports=ports, timeout=2))
    ip = "127.0.0.1"
    assert snap.endpoints == (
        TLSEndpoint(
            ip, v, "harvester-vip", "node-0", _sha(UI_OLD), None, "Secret/cattle-system/tls-ingress"
        ),
        TLSEndpoint(ip, a, "kube-apiserver", "node-0", _sha(APISERVER)),
        TLSEndpoint(ip, off1, "kube-controller-manager", "node-0", None, "connection refused"),
        TLSEndpoint(ip, off2, "kube-scheduler", "node-0", None, "connection refused"),
        TLSEndpoint(ip, k, "kubelet", "node-0", _sha(KUBELET)),
    )
    served = sorted(
        (c.location.key, c.index, c.sha256)
        for c in snap.certificates
        if c.location.kind == "TLSEndpoint"
    )
    assert served == sorted(
        [
            (f"TLSEndpoint//{ip}:{a}#chain[0]", 0, _sha(APISERVER)),
            (f"TLSEndpoint//{ip}:{a}#chain[1]", 1, _sha(CA)),
            (f"TLSEndpoint//{ip}:{v}#chain[0]", 0, _sha(UI_OLD)),
            (f"TLSEndpoint//{ip}:{v}#chain[1]", 1, _sha(CA)),
            (f"TLSEndpoint//{ip}:{k}#chain[0]", 0, _sha(KUBELET)),
        ]
    )
    probe = snap.coverage_of("probe")
    assert (probe.status, probe.detail) == (
        P,
        f"3 of 5 endpoints answered; unreachable: kube-controller-manager {ip}:{off1} "
        f"(connection refused), kube-scheduler {ip}:{off2} (connection refused)",
    )
    ids = ("cert-served-mismatch", "cert-expiring", "cert-expired")
    found = run_checks(snap, [get_check(i) for i in ids]).findings
    assert {(f.check_id, f.severity.value, f.resource.key) for f in found} == {
        ("cert-served-mismatch", "warning", f"TLSEndpoint//{ip}:{v}"),
        ("cert-expiring", "critical", f"TLSEndpoint//{ip}:{a}#chain[0]"),  # apiserver, 5 days
        ("cert-expiring", "critical", f"TLSEndpoint//{ip}:{v}#chain[0]"),  # old UI cert, 9 days
    }
    mismatch = next(f for f in found if f.check_id == "cert-served-mismatch")
    assert mismatch.evidence["expected_sha256"] == _sha(UI_NEW)
    assert mismatch.evidence["served_sha256"] == _sha(UI_OLD)


def test_vip_from_probe_options_and_internal_cert_when_no_custom_one(tmp_path: Path) -> None:
    objects = [
        setting("ssl-certificates", "", "{}"),
        tls_secret("cattle-system", "tls-rancher-internal", pem(UI_NEW, CA)),
    ]
    with (
        FakeKubeAPI(objects=objects) as api,
        listeners(vip=([pem(UI_NEW)], key_pem(UI_NEW_KEY))) as ls,
    ):
        options = ProbeOptions(ports={"harvester-vip": ls["vip"].port}, vip="127.0.0.1")
        snap = read(api, tmp_path, probe=options)
    assert [(e.component, e.expected_group, e.leaf_sha256) for e in snap.endpoints] == [
        ("harvester-vip", "Secret/cattle-system/tls-rancher-internal", _sha(UI_NEW))
    ]
    assert run_checks(snap, [get_check("cert-served-mismatch")]).findings == ()


def test_unknown_vip_and_unreadable_settings_are_notes(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=[node("node-0", "127.0.0.1")]) as api:
        api.deny(verb="list", resource="settings", group="harvesterhci.io")
        snap = read(api, tmp_path, probe=ProbeOptions(ports={"harvester-vip": closed_port()}))
    probe = snap.coverage_of("probe")
    assert (probe.status, probe.detail) == (
        CoverageStatus.MISSING,
        "nothing to probe; Endpoints default/kubernetes not found; kube-apiserver addresses "
        "taken from control-plane nodes; ConfigMap harvester-system/vip not found; "
        "harvester-vip skipped: VIP unknown (set vip for this cluster)",
    )
    assert run_checks(snap, [get_check("cert-served-mismatch")]).unknowns[0].reason == (
        "needs probe: missing (" + probe.detail + ")"
    )


def test_vip_backing_secret_unknown_when_settings_are_forbidden(tmp_path: Path) -> None:
    with (
        FakeKubeAPI(objects=[vip_configmap("127.0.0.1")]) as api,
        listeners(vip=([pem(UI_OLD)], key_pem(UI_OLD_KEY))) as ls,
    ):
        api.deny(verb="list", resource="settings", group="harvesterhci.io")
        snap = read(api, tmp_path, probe=ProbeOptions(ports={"harvester-vip": ls["vip"].port}))
    assert [(e.component, e.expected_group) for e in snap.endpoints] == [("harvester-vip", None)]


def test_disabled_probe_dials_nothing(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=probed_cluster()) as api:
        snap = read(api, tmp_path, probe=NO_PROBE)
        # The probe's own reads: the apiserver Endpoints and the VIP ConfigMap.
        asked = api.requests_to("/api/v1/namespaces/default")
        asked += api.requests_to("/api/v1/namespaces/harvester-system")
    assert snap.endpoints == ()
    assert snap.coverage_of("probe").status == CoverageStatus.EXCLUDED
    assert asked == []


# -- credentials and annotations -----------------------------------------------------------------
def test_client_certificate_is_a_credential_not_a_certificate(tmp_path: Path) -> None:
    key = ec_key("admin")
    client_cert = make_cert("system:admin", key=key, not_after=at(10), issuer=ISSUER)
    with FakeKubeAPI() as api:
        snap = read(
            api,
            tmp_path,
            client_cert_pem=pem(client_cert).encode(),
            client_key_pem=key_pem(key).encode(),
        )
    assert snap.credentials == (
        CredentialInfo(
            "client-certificate",
            at(10),
            "CN=system:admin",
            f"user 'fake' of context 'fake' in {tmp_path / f'kubeconfig-{api.port}'}",
        ),
    )
    assert snap.certificates == ()
    found = run_checks(snap, [get_check("kubeconfig-credential-expiring")]).findings
    assert [(f.severity.value, f.resource.key, f.tier) for f in found] == [
        ("critical", "Credential//kubeconfig#client-certificate", "14d")
    ]


def test_cert_info_annotations_are_reported_not_judged(tmp_path: Path) -> None:
    info = json.dumps({"closestExpiryTime": "2026-07-01T00:00:00Z", "updatedAt": "x"})
    objects = [
        node("node-0", "10.0.0.10", annotations={"harvesterhci.io/rke2-cert-info": info}),
        node("node-1", "10.0.0.11", annotations={"harvesterhci.io/rke2-cert-info": "garbage"}),
        node("node-2", "10.0.0.12"),
    ]
    with FakeKubeAPI(objects=objects) as api:
        snap = read(api, tmp_path)
    item = snap.coverage_of("rke2-cert-info")
    assert (item.status, item.detail) == (
        R,
        "node-0: closest RKE2 certificate expiry 2026-07-01T00:00:00+00:00; node-1: annotation "
        "not in the expected format (format unconfirmed, not judged)",
    )


@given(st.one_of(st.text(), st.none(), st.integers(), st.dictionaries(st.text(), st.text())))
def test_describe_cert_info_never_raises(raw: object) -> None:
    assert isinstance(describe_cert_info(raw), str)

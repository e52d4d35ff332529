"""Which certificates the certificate checks judge (bot.checks._certs), on real sources.

Aspects: a certificate renewed with the same subject and key is dropped for its successor
only when every copy of it is a file in a backup folder (``prev/``, RKE2's
``tls-<unix time>/``) whose file name now holds the successor; the agent's copy of a file
renewed in server/tls, a copy with another name, a copy in another Secret, a webhook
caBundle, or served by a listener (:443 from a renewed Secret, :6443 from a node file
renewed in place) is in use and is judged. KubeVirt's self-rotating
certificates are recognised by their issuer (``kubevirt.io@<time>``), their CN
(``kubevirt.io:...``) or a ``kubevirt-*`` Secret in harvester-system, never by a name a
user could pick: ``kubevirt-manager.example.com`` or a ``kubevirt-*`` Secret elsewhere
expires like any other certificate.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from bot.checks import _certs
from bot.checks.registry import builtin_checks
from bot.checks.runner import run_checks
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.snapshot import Snapshot
from bot.scan import merge_pki
from bot.sources.live import ProbeOptions
from bot.sources.manifests import read_manifests
from bot.sources.pki import read_pki
from tests.agent import inventory_configmap
from tests.fakes.kube_api import FakeKubeAPI, FakeTLSEndpoint
from tests.sources import NOW, at, b64, ec_key, key_pem, make_cert, name, pem
from tests.sources.test_live import CA, ISSUER, apiserver_endpoints, node, read, tls_secret

EXPIRY = {"cert-expired", "cert-expiring"}


def _manifests(tmp_path: Path, objects: list[dict[str, Any]]) -> Snapshot:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return read_manifests([path], cluster="c", scanned_at=NOW)


def _expiry(snap: Snapshot) -> set[tuple[str, str, str]]:
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    return {
        (f.check_id, f.severity.value, f.resource.key) for f in run.findings if f.check_id in EXPIRY
    }


def _webhook(config: str, ca_pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": config},
        "webhooks": [{"name": "h", "clientConfig": {"caBundle": b64(ca_pem)}}],
    }


# -- superseded: only a copy that is nothing but a file ---------------------------------------
def test_an_expired_cert_in_one_secret_is_judged_though_another_holds_its_renewal(
    tmp_path: Path,
) -> None:
    key = ec_key("shared-web-key")
    old = make_cert("web.example.com", key=key, not_after=at(-3), issuer=ISSUER)
    new = make_cert("web.example.com", key=key, not_after=at(300), issuer=ISSUER)
    snap = _manifests(
        tmp_path, [tls_secret("ns-a", "web", pem(old)), tls_secret("ns-b", "web", pem(new))]
    )
    assert _expiry(snap) == {("cert-expired", "critical", "Secret/ns-a/web#data.tls.crt[0]")}


def test_a_webhook_still_trusting_the_expired_ca_is_judged_though_it_was_renewed(
    tmp_path: Path,
) -> None:
    key = ec_key("webhook-ca")
    old = make_cert("webhook-ca", key=key, not_after=at(-10), ca=True)
    new = make_cert("webhook-ca", key=key, not_after=at(3000), ca=True)
    snap = _manifests(
        tmp_path, [_webhook("cdi-api-validate", pem(old)), tls_secret("cdi", "cdi-ca", pem(new))]
    )
    hook = "ValidatingWebhookConfiguration//cdi-api-validate#webhooks[h].clientConfig.caBundle[0]"
    assert _expiry(snap) == {("cert-expired", "critical", hook)}


def test_an_expired_cert_served_on_443_is_judged_though_its_secret_was_renewed(
    tmp_path: Path,
) -> None:
    key = ec_key("ui-key")
    old = make_cert("harvester-ui", key=key, not_after=at(-2), issuer=ISSUER)
    new = make_cert("harvester-ui", key=key, not_after=at(365), issuer=ISSUER)
    objects = [tls_secret("cattle-system", "tls-rancher-internal", pem(new, CA), key_pem(key))]
    with (
        FakeTLSEndpoint(chain_pem=[pem(old), pem(CA)], key_pem=key_pem(key)) as vip,
        FakeKubeAPI(objects=objects) as api,
    ):
        probe = ProbeOptions(ports={"harvester-vip": vip.port}, vip="127.0.0.1", timeout=2)
        snap = read(api, tmp_path, probe=probe)
    served = f"TLSEndpoint//127.0.0.1:{vip.port}#chain[0]"
    assert _expiry(snap) == {("cert-expired", "critical", served)}


def test_an_expired_apiserver_cert_still_served_is_judged_though_renewed_on_disk(
    tmp_path: Path,
) -> None:
    """RKE2 renewed serving-kube-apiserver.crt in place with the same key (§3.1), but the
    apiserver was not restarted and serves the old one: that is what clients get."""
    key = ec_key("apiserver-node-0")
    old = make_cert("kube-apiserver", key=key, not_after=at(-1), issuer=ISSUER)
    new = make_cert("kube-apiserver", key=key, not_after=at(364), issuer=ISSUER)
    root = tmp_path / "tls"
    root.mkdir()
    (root / "serving-kube-apiserver.crt").write_text(pem(new))
    (root / "server-ca.crt").write_text(pem(CA))
    inventory = inventory_configmap(root, "node-0", updated=NOW - timedelta(hours=1))
    objects = [node("node-0", "127.0.0.1"), apiserver_endpoints("127.0.0.1"), inventory]
    with (
        FakeTLSEndpoint(chain_pem=[pem(old), pem(CA)], key_pem=key_pem(key)) as listener,
        FakeKubeAPI(objects=objects) as api,
    ):
        probe = ProbeOptions(ports={"kube-apiserver": listener.port}, timeout=2)
        snap = read(api, tmp_path, probe=probe)
    assert {c.location.key for c in snap.certificates} >= {
        "File//node-0/serving-kube-apiserver.crt#[0]",
        f"TLSEndpoint//127.0.0.1:{listener.port}#chain[0]",
    }
    served = f"TLSEndpoint//127.0.0.1:{listener.port}#chain[0]"
    assert _expiry(snap) == {("cert-expired", "critical", served)}


def test_a_cert_both_on_disk_and_served_is_judged_and_a_file_only_copy_is_not(
    tmp_path: Path,
) -> None:
    key = ec_key("ctl")
    old = make_cert("system:kube-controller-manager", key=key, not_after=at(4), issuer=ISSUER)
    new = make_cert("system:kube-controller-manager", key=key, not_after=at(300), issuer=ISSUER)
    (tmp_path / "prev").mkdir()
    (tmp_path / "client-controller.crt").write_text(pem(new))
    (tmp_path / "prev" / "client-controller.crt").write_text(pem(old))
    files = read_pki(tmp_path, cluster="c", scanned_at=NOW)
    assert _expiry(files) == set()  # the old copy is only a file: superseded
    judged = _certs.judged(files.certificates)
    assert [j.cert.location.key for j in judged] == ["File//client-controller.crt#[0]"]
    # The same old certificate also served by a listener (added as the probe records a
    # served chain): it is in use, and judged at its first location, listener included.
    served = next(c for c in files.certificates if c.location.name == "prev/client-controller.crt")
    on_wire = replace(served, location=ResourceRef("TLSEndpoint", "10.0.0.5:10257", "", "chain[0]"))
    both = replace(files, certificates=(*files.certificates, on_wire))
    (item,) = [j for j in _certs.judged(both.certificates) if j.cert.sha256 == served.sha256]
    assert item.also_at == ("TLSEndpoint//10.0.0.5:10257#chain[0]",)
    assert _expiry(both) == {("cert-expiring", "critical", "File//prev/client-controller.crt#[0]")}


def _rke2(tmp_path: Path, files: dict[str, x509.Certificate]) -> None:
    for rel, cert in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(pem(cert))


def test_the_agents_copy_is_judged_though_server_tls_holds_a_renewed_one(
    tmp_path: Path,
) -> None:
    """RKE2 gives the agent client-kube-proxy.crt with the server's key: with the README's
    ``--pki server/tls --pki agent``, the agent's copy is the one kube-proxy reads."""
    key = ec_key("kube-proxy")
    old = make_cert("system:kube-proxy", key=key, not_after=at(-2), issuer=ISSUER)
    new = make_cert("system:kube-proxy", key=key, not_after=at(363), issuer=ISSUER)
    _rke2(
        tmp_path,
        {"server/tls/client-kube-proxy.crt": new, "agent/client-kube-proxy.crt": old},
    )
    folders = [tmp_path / "server/tls", tmp_path / "agent"]
    snap = merge_pki([read_pki(f, cluster="c", scanned_at=NOW) for f in folders], folders)
    assert _expiry(snap) == {("cert-expired", "critical", "File//agent/client-kube-proxy.crt#[0]")}


def test_old_copies_in_rke2s_backup_folders_are_superseded_others_are_not(
    tmp_path: Path,
) -> None:
    """``rke2 certificate rotate`` copies server/tls to server/tls-<unix time> and the
    agent's files into that folder (k3s backupCertificates): there the old copies stay
    unused. One with another file name, or outside a backup folder, is judged."""
    key, kubelet_key = ec_key("apiserver"), ec_key("kubelet")
    old = make_cert("kube-apiserver", key=key, not_after=at(-2), issuer=ISSUER)
    new = make_cert("kube-apiserver", key=key, not_after=at(363), issuer=ISSUER)
    kubelet_old = make_cert("system:node:n1", key=kubelet_key, not_after=at(-2), issuer=ISSUER)
    kubelet_new = make_cert("system:node:n1", key=kubelet_key, not_after=at(363), issuer=ISSUER)
    _rke2(
        tmp_path,
        {
            "server/tls/serving-kube-apiserver.crt": new,
            "server/tls-1717000000/serving-kube-apiserver.crt": old,  # dropped
            "server/tls-1717000000/renamed.crt": old,  # another name: not evidently unused
            "agent/client-kubelet.crt": kubelet_new,
            "server/tls-1717000000/client-kubelet.crt": kubelet_old,  # the agent's backup
        },
    )
    snap = read_pki(tmp_path, cluster="c", scanned_at=NOW)
    judged = [j.cert.location.key for j in _certs.judged(snap.certificates)]
    assert judged == [
        "File//agent/client-kubelet.crt#[0]",
        "File//server/tls-1717000000/renamed.crt#[0]",
        "File//server/tls/serving-kube-apiserver.crt#[0]",
    ]
    (renamed,) = [j for j in _certs.judged(snap.certificates) if j.cert.not_after == at(-2)]
    assert renamed.also_at == ("File//server/tls-1717000000/serving-kube-apiserver.crt#[0]",)


# -- KubeVirt: what KubeVirt writes, not what a name looks like ------------------------------
KV_KEY = ec_key("kubevirt-ca")
KV_CA = make_cert("kubevirt.io@1780000000", key=KV_KEY, not_after=at(6), ca=True)
KV_ISSUER = (name("kubevirt.io@1780000000"), KV_KEY)
PUBLIC_KEY = ec_key("le-r3")
PUBLIC_CA = make_cert("R3", key=PUBLIC_KEY, not_after=at(900), ca=True)
PUBLIC = (name("R3"), PUBLIC_KEY)


def _leaf(cn: str, days: float, issuer: Any) -> str:
    return pem(make_cert(cn, key=ec_key(cn), not_after=at(days), issuer=issuer))


def test_user_certs_named_like_kubevirt_expire_like_any_other(tmp_path: Path) -> None:
    manager = _leaf("kubevirt-manager.example.com", 3, PUBLIC)
    grafana = _leaf("grafana.example.com", 3, PUBLIC)
    lookalike = _leaf("kubevirt.io.example.com", 3, PUBLIC)
    snap = _manifests(
        tmp_path,
        [
            tls_secret("kubevirt-manager", "kubevirt-manager-tls", manager + pem(PUBLIC_CA)),
            tls_secret("monitoring", "kubevirt-dashboard-ingress", grafana + pem(PUBLIC_CA)),
            tls_secret("default", "lookalike", lookalike),
        ],
    )
    assert _expiry(snap) == {
        (
            "cert-expiring",
            "critical",
            "Secret/kubevirt-manager/kubevirt-manager-tls#data.tls.crt[0]",
        ),
        (
            "cert-expiring",
            "critical",
            "Secret/monitoring/kubevirt-dashboard-ingress#data.tls.crt[0]",
        ),
        ("cert-expiring", "critical", "Secret/default/lookalike#data.tls.crt[0]"),
    }
    assert not any(_certs.rotates_by_design(j) for j in _certs.judged(snap.certificates))


def test_kubevirts_own_certs_rotate_by_design(tmp_path: Path) -> None:
    """Issued by KubeVirt's CA, named ``kubevirt.io:...`` / ``kubevirt.io@...``, or kept in
    a ``kubevirt-*`` Secret of harvester-system: soon expiry is KubeVirt's own business."""
    snap = _manifests(
        tmp_path,
        [
            # Issued by the kubevirt.io@ CA, whatever its CN (and the CA itself).
            tls_secret("default", "virt-api", _leaf("virt-api.kubevirt.svc", 0.5, KV_ISSUER)),
            _webhook("virt-api-validator", pem(KV_CA)),
            # A KubeVirt client name, self-signed here.
            tls_secret("default", "client", _leaf("kubevirt.io:system:client:virt", 1, None)),
            # Where Harvester installs KubeVirt, under KubeVirt's Secret names.
            tls_secret("harvester-system", "kubevirt-operator-certs", _leaf("op", 1, PUBLIC)),
        ],
    )
    judged = _certs.judged(snap.certificates)
    assert len(judged) == 4
    assert all(_certs.rotates_by_design(j) for j in judged)
    assert _expiry(snap) == set()
    # Expired is still reported: rotation that stopped is the one thing that matters.
    expired = _manifests(
        tmp_path, [tls_secret("default", "virt-api", _leaf("virt-api.kubevirt.svc", -1, KV_ISSUER))]
    )
    assert _expiry(expired) == {
        ("cert-expired", "critical", "Secret/default/virt-api#data.tls.crt[0]")
    }

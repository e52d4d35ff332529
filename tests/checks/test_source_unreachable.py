"""source-unreachable on real live reads (fake API server, real KubeClient): a list that
fails while the rest reads is a warning of its own, so the scan never looks clean.

Aspects: a 500 on the Secrets list, a dropped connection on the webhooks, a failed list
of the node agent's inventories each give one warning naming the subject and the reason,
while the certificate checks still decide on what was read (which is why the warning is
needed); the held files that could not be re-read (``file:...``) and the local
kubeconfig (``credentials``) are not reported; an unreachable API stays one critical
finding; a support bundle's unreadable parts are not this check's business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.checks.registry import builtin_checks, get_check
from bot.checks.runner import run_checks
from bot.core.finding import Finding
from bot.core.policy import CheckPolicy
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.kube.client import KubeClient, KubeTarget
from bot.sources.live import read_live
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW, b64, pem
from tests.sources.test_live import CA, FAST, NO_PROBE, issue, node, read, tls_secret

ERROR = CoverageStatus.ERROR


def _objects() -> list[dict[str, Any]]:
    soon, _ = issue("soon.example.com", 3)
    hook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "h"},
        "webhooks": [{"name": "h", "clientConfig": {"caBundle": b64(pem(CA))}}],
    }
    return [node("node-0", "10.0.0.10"), tls_secret("zz", "soon", pem(soon)), hook]


def _unreachable(snap: Snapshot) -> list[Finding]:
    return list(run_checks(snap, [get_check("source-unreachable")]).findings)


def test_a_failed_secrets_list_is_a_warning_and_not_a_clean_scan(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=_objects()) as api:
        api.fail("/api/v1/secrets", 500)
        snap = read(api, tmp_path)
    reason = (
        "cannot list secrets in all namespaces: 500 InternalError: "
        "Internal error occurred: injected failure"
    )
    assert snap.coverage_of("secrets") == CoverageItem("secrets", ERROR, reason)
    (found,) = _unreachable(snap)
    assert (found.severity.value, found.resource.key) == ("warning", "Cluster//c#secrets")
    assert found.message == f"cluster c: could not read secrets: {reason}; secrets not checked"
    assert found.evidence == {"subject": "secrets", "reason": reason}
    # The certificate checks decided on the webhooks they read: the Secret's certificate
    # (3 days left) is simply absent. Only source-unreachable says what was not seen.
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    assert {u.check_id for u in run.unknowns}.isdisjoint({"cert-expiring", "cert-expired"})
    about_certs_or_reads = {
        (f.check_id, f.resource.key)
        for f in run.findings
        if f.check_id.startswith(("cert-", "source-"))
    }
    assert about_certs_or_reads == {("source-unreachable", "Cluster//c#secrets")}


def test_a_dropped_connection_on_the_webhooks_is_a_warning(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=_objects()) as api:
        api.fail("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", 0)
        snap = read(api, tmp_path)
    found = _unreachable(snap)
    assert [(f.severity.value, f.resource.key) for f in found] == [
        ("warning", "Cluster//c#webhooks")
    ]
    assert found[0].message.startswith(
        "cluster c: could not read webhooks: cannot list validatingwebhookconfigurations: "
    )
    assert found[0].message.endswith("; webhooks not checked")


def test_a_failed_inventory_list_is_reported_and_its_held_files_are_not(tmp_path: Path) -> None:
    """The held files of open findings are ERROR ``file:...`` when the inventories cannot
    be listed: their findings stay open (lifecycle), one warning names the list."""
    with FakeKubeAPI(objects=_objects()) as api:
        api.fail("/api/v1/namespaces/secbot-agent/configmaps", 503)
        path = api.write_kubeconfig(tmp_path / "kubeconfig")
        client = KubeClient.connect(KubeTarget(name="c", kubeconfig=path), timeouts=FAST)
        try:
            snap = read_live(
                client,
                cluster="c",
                scanned_at=NOW,
                probe=NO_PROBE,
                held_files=["node-0/serving-kube-apiserver.crt"],
            )
        finally:
            client.close()
    held = snap.coverage_of("file:node-0/serving-kube-apiserver.crt")
    assert (held.status, snap.coverage_of("node-pki").status) == (ERROR, ERROR)
    assert [(f.severity.value, f.resource.key) for f in _unreachable(snap)] == [
        ("warning", "Cluster//c#node-pki")
    ]


def _snapshot(source: str, *coverage: tuple[str, CoverageStatus]) -> Snapshot:
    items = tuple(CoverageItem(s, status, f"{s} failed") for s, status in coverage)
    return Snapshot("c", source, "https://10.0.0.5:6443", NOW, coverage=items)


def test_only_failed_reads_of_a_live_cluster_are_reported() -> None:
    read_ok = CoverageStatus.READ
    live = _snapshot(
        "live",
        ("api", read_ok),
        ("credentials", ERROR),  # the local kubeconfig: kubeconfig-credential-expiring says
        ("events", ERROR),
        ("file:node-0/client-ca.crt", ERROR),
        ("rancher-tokens", ERROR),
        ("secrets", CoverageStatus.FORBIDDEN),  # source-forbidden's
    )
    assert [(f.severity.value, f.resource.key, f.message) for f in _unreachable(live)] == [
        ("warning", "Cluster//c#events", "cluster c: could not read events: events failed; "
         "events not checked"),
        ("warning", "Cluster//c#rancher-tokens", "cluster c: could not read rancher-tokens: "
         "rancher-tokens failed; rancher-tokens not checked"),
    ]  # fmt: skip
    down = _snapshot("live", ("api", ERROR), ("credentials", ERROR))
    assert [(f.severity.value, f.resource.key) for f in _unreachable(down)] == [
        ("critical", "Cluster//c")
    ]
    bundle = _snapshot("bundle", ("settings", ERROR), ("nodes", ERROR))
    assert _unreachable(bundle) == []

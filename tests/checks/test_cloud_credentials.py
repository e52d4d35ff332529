"""The cloud-credential checks end to end against the fake Kubernetes API: a Rancher
management cluster with a credential expiring in 5 days, one expired, one whose token is
gone, one that never expires (no finding), read by the real client and live source.

Also: a Harvester cluster (role harvester) is not judged at all (no finding,
no UNKNOWN), and a Rancher whose tokens cannot be read answers UNKNOWN, never a pass.
"""

from __future__ import annotations

from pathlib import Path

from bot.checks import cloud_credentials
from bot.checks.runner import run_checks
from bot.core.snapshot import Snapshot
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources.test_live_rancher import rancher_objects, read, ref

CHECKS = list(cloud_credentials.CHECKS)


def _judged(snap: Snapshot) -> tuple[list[tuple[str, str, str]], list[str]]:
    run = run_checks(snap, CHECKS)
    found = sorted((f.check_id, f.severity.value, f.resource.name) for f in run.findings)
    return found, sorted(u.check_id for u in run.unknowns)


def test_the_four_credentials_of_the_issue(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        snap = read(api, tmp_path)
    found, unknown = _judged(snap)
    assert unknown == []
    assert found == [
        ("cloud-credential-expired", "critical", "cc-exp01"),
        ("cloud-credential-expiring", "critical", "cc-soon1"),
        ("cloud-credential-token-missing", "critical", "cc-gone1"),
        ("rancher-token-ttl-short", "info", "kubeconfig-default-token-ttl-minutes"),
    ]  # cc-inf01 (never expires) and the AWS credential: nothing
    run = run_checks(snap, CHECKS)
    soon = next(f for f in run.findings if f.check_id == "cloud-credential-expiring")
    assert soon.resource == ref("cc-soon1")
    assert soon.tier == "7d"
    assert soon.message.startswith(
        "cloud credential 'harvester-prod': its token kubeconfig-user-soon1 expires in 5 days"
    )
    assert "used by fleet-default/guest-1" in soon.message
    assert "Cloud Credentials > Renew" in soon.message
    assert soon.evidence["guest_clusters"] == ("fleet-default/guest-1",)


def test_a_harvester_cluster_is_not_judged(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        snap = read(api, tmp_path, role="harvester")
    assert _judged(snap) == ([], [])


def test_unreadable_tokens_make_the_token_checks_unknown(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        api.deny(verb="get", resource="tokens", group="management.cattle.io")
        snap = read(api, tmp_path)
    found, unknown = _judged(snap)
    assert unknown == [
        "cloud-credential-expired",
        "cloud-credential-expiring",
        "cloud-credential-token-missing",
    ]
    assert found == [("rancher-token-ttl-short", "info", "kubeconfig-default-token-ttl-minutes")]

"""Node-evidence checks on hand-built snapshots (the fixture walker covers real bundles).

Aspects: the token-mismatch line is found per node with its first timestamp in each log
format and nothing else of the log; only logs count; certificate-warning events group by
involved object with summed counts, the latest time and a truncated message; /oem proxy
variables are found in map and KEY=VALUE form, masked, and nothing else of the file is
shown; missing node files or events give UNKNOWN.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checks.node_evidence import TOKEN_MISMATCH, proxy_assignments
from bot.checks.registry import get_check
from bot.checks.runner import run_checks
from bot.core.finding import Finding
from bot.core.snapshot import CoverageItem, CoverageStatus, Event, NodeFile, Snapshot

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CANARY = "CanaryNodePw-5e1f"


def _snap(
    files: tuple[NodeFile, ...] = (),
    events: tuple[Event, ...] = (),
    subjects: tuple[str, ...] = ("node-files", "events"),
) -> Snapshot:
    coverage = tuple(CoverageItem(x, CoverageStatus.READ) for x in subjects)
    return Snapshot(
        cluster="c1",
        source="bundle",
        origin="test",
        scanned_at=NOW,
        node_files=files,
        events=events,
        coverage=coverage,
    )


def _findings(check_id: str, snap: Snapshot) -> list[Finding]:
    run = run_checks(snap, [get_check(check_id)])
    assert not run.unknowns
    return list(run.findings)


FATAL = f'level=fatal msg="Failed to reconcile with temporary etcd: {TOKEN_MISMATCH}"'


def test_token_mismatch_per_node_with_first_timestamp() -> None:
    files = (
        NodeFile(
            "n1",
            "logs/rke2-server.log",
            f"May 29 15:40:00 n1 rke2[1]: token={CANARY}\n"
            f'May 29 15:45:11 n1 rke2[2]: time="2024-05-29T15:45:11Z" {FATAL}\n'
            f'May 29 15:45:16 n1 rke2[3]: time="2024-05-29T15:45:16Z" {FATAL} {CANARY}\n',
        ),
        NodeFile("n1", "logs/rancherd.log", f"2024-05-29T15:50:00+0000 n1 rke2: {FATAL}\n"),
        NodeFile("n2", "logs/rke2-server.log", f"Jun  1 03:04:05 n2 rke2[9]: {FATAL}\n"),
        NodeFile("n3", "logs/rke2-server.log", f"no timestamp here {FATAL}\n"),
        NodeFile("n4", "configs/oem/90_custom.yaml", f"# {TOKEN_MISMATCH}\n"),  # not a log
    )
    found = _findings("rke2-token-mismatch", _snap(files))
    assert [(f.severity.value, f.resource.key) for f in found] == [
        ("critical", "Node//n1"),
        ("critical", "Node//n2"),
        ("critical", "Node//n3"),
    ]
    assert dict(found[0].evidence) == {
        "matches": 3,
        "files": ("logs/rancherd.log", "logs/rke2-server.log"),
        "first_seen": "2024-05-29T15:45:11Z",
    }
    assert dict(found[1].evidence)["first_seen"] == "Jun  1 03:04:05"
    assert "first_seen" not in found[2].evidence
    assert CANARY not in repr(found)
    assert "rancher/rke2#6250" in found[0].message


def test_node_checks_unknown_without_node_files() -> None:
    snap = _snap(subjects=("events",))
    for check_id in ("rke2-token-mismatch", "oem-proxy-override"):
        run = run_checks(snap, [get_check(check_id)])
        assert [(u.check_id, u.reason) for u in run.unknowns] == [
            (check_id, "needs node-files: missing (bundle has no node-files)")
        ]


def _event(
    name: str,
    *,
    kind: str = "Node",
    obj: str = "n1",
    count: int = 1,
    day: int = 1,
    message: str = "will expire",
    reason: str = "CertificateExpirationWarning",
) -> Event:
    return Event(
        namespace="default",
        name=name,
        reason=reason,
        message=message,
        type="Warning",
        involved_kind=kind,
        involved_name=obj,
        count=count,
        last_seen=datetime(2026, 5, day, tzinfo=UTC),
    )


def test_cert_warning_events_grouped_by_object() -> None:
    events = (
        _event("e1", count=3, day=20, message="old message"),
        _event("e2", count=2, day=28, message="x" * 300),
        _event("e3", kind="", obj="", day=5, reason="CACertificateExpirationWarning"),
        _event("e4", reason="NodeNotReady"),
    )
    found = _findings("rke2-cert-expiration-warning", _snap(events=events))
    assert [(f.severity.value, f.resource.key) for f in found] == [
        ("warning", "Event/default/e3"),
        ("warning", "Node//n1"),
    ]
    assert dict(found[1].evidence) == {
        "count": 5,
        "last_seen": "2026-05-28T00:00:00+00:00",
        "reasons": ("CertificateExpirationWarning",),
        "message": "x" * 200,
    }
    assert dict(found[0].evidence)["reasons"] == ("CACertificateExpirationWarning",)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "environment:\n  HTTP_PROXY: http://u:pw@proxy:3128\n  no_proxy: a,b, c\n",
            {"HTTP_PROXY": "http://u:****@proxy:3128", "NO_PROXY": "a,b, c"},
        ),
        ('  "HTTPS_PROXY": "http://proxy:3128"  # by hand\n', {"HTTPS_PROXY": "http://proxy:3128"}),
        ("    - HTTPS_PROXY=http://u:pw@p:1\n", {"HTTPS_PROXY": "http://u:****@p:1"}),
        (
            "export https_proxy='http://p:1' NO_PROXY=x,y\n",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "x,y"},
        ),
        (
            'Environment="HTTP_PROXY=http://p:1" "NO_PROXY=.svc"\n',
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": ".svc"},
        ),
        ("HTTP_PROXY:\n", {"HTTP_PROXY": ""}),
        ("# HTTP_PROXY: http://p:1\n  #NO_PROXY=x\n", {}),
        ("MY_HTTP_PROXY=x\nhttp_proxy_port: 8080\nproxy: http://p:1\nsome.no_proxy=1\n", {}),
        ("HTTP_PROXY: http://first\nHTTP_PROXY: http://second\n", {"HTTP_PROXY": "http://first"}),
    ],
)
def test_proxy_assignments(text: str, found: dict[str, str]) -> None:
    assert proxy_assignments(text) == found


def test_oem_proxy_override_shows_only_masked_variables() -> None:
    custom = (
        f"stages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: {CANARY}\n"
        f"    environment:\n      HTTP_PROXY: http://bob:{CANARY}@proxy:3128\n"
    )
    files = (
        NodeFile("n1", "configs/oem/90_custom.yaml", custom),
        NodeFile("n1", "configs/oem/sub/extra.YML", "NO_PROXY=.svc\n"),
        NodeFile("n2", "configs/etc/rancher/rke2/config.yaml", "HTTP_PROXY: http://p:1\n"),
        NodeFile("n2", "configs/oem/install.txt", "HTTP_PROXY=http://p:1\n"),
        NodeFile("n3", "configs/oem/90_custom.yaml", "stages: {}\n"),
    )
    found = _findings("oem-proxy-override", _snap(files))
    assert [(f.severity.value, f.resource.key) for f in found] == [
        ("warning", "File//n1:/oem/90_custom.yaml"),
        ("warning", "File//n1:/oem/sub/extra.YML"),
    ]
    assert dict(found[0].evidence) == {
        "node": "n1",
        "file": "/oem/90_custom.yaml",
        "variables": ("HTTP_PROXY",),
        "HTTP_PROXY": "http://bob:****@proxy:3128",
    }
    assert found[0].message == (
        "/oem/90_custom.yaml on n1 sets HTTP_PROXY by hand; change the "
        "proxy only through the http-proxy setting"
    )
    assert CANARY not in repr(found)
